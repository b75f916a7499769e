import { unlikeProduction } from '../registry/index.js';
import type { Context } from '../server/context.js';
import { AppError, isAppError } from '../lib/errors.js';
import { cliActor } from './context.js';
import { progress } from './output.js';

/**
 * A new version of a model whose production takes other inputs, or decides other things: said
 * now, while it is only registered (registry/unlike-production.ts).
 */
export async function warnIfUnlikeProduction(ctx: Context, model: string, version: number): Promise<void> {
  for (const w of await unlikeProduction(ctx.registry, model, version)) progress(`warning: ${w}`);
}

/**
 * Promote a version just registered (train or register with --promote), saying what `modelgate
 * promote` says (production now decides other things). A promotion refused (a canary running)
 * must not hide that the version was registered: the error names it and the command that
 * finishes the job.
 */
export async function promoteRegistered(ctx: Context, model: string, version: number): Promise<string[]> {
  const moved = await ctx.registry.promote({ model, target: 'production', version, actor: cliActor() }).catch((e: unknown) => {
    throw isAppError(e)
      ? new AppError(
          e.code,
          `${model} version ${version} is registered, but not production: ${e.message} The promotion alone, when ready: modelgate promote --model ${model} --version ${version}`,
          e.details,
        )
      : e;
  });
  const warnings = 'warnings' in moved ? (moved.warnings ?? []) : [];
  for (const w of warnings) progress(`warning: ${w}`);
  return warnings;
}
