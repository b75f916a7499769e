import { promoteRegistered as promoteJustRegistered, unlikeProduction } from '../registry/index.js';
import type { Context } from '../server/context.js';
import { cliActor } from './context.js';
import { progress } from './output.js';

/**
 * A new version of a model whose production takes other inputs, or decides other things: said
 * now, while it is only registered (registry/after-register.ts).
 */
export async function warnIfUnlikeProduction(ctx: Context, model: string, version: number): Promise<void> {
  for (const w of await unlikeProduction(ctx.registry, model, version)) progress(`warning: ${w}`);
}

/**
 * Promote a version just registered (train or register with --promote), saying what `modelgate
 * promote` says (production now decides other things); refused, the error names the command that
 * finishes the job (registry/after-register.ts).
 */
export async function promoteRegistered(ctx: Context, model: string, version: number): Promise<string[]> {
  const warnings = await promoteJustRegistered(ctx.registry, {
    model,
    version,
    actor: cliActor(),
    alone: (accept) => `modelgate promote --model ${model} --version ${version}${accept ? ' --accept-new-inputs' : ''}`,
  });
  for (const w of warnings) progress(`warning: ${w}`);
  return warnings;
}
