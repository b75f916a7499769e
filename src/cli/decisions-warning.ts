import { contractChange, decisionsDiffer, describeContractChange, policyFlag } from '../inference/index.js';
import type { Context } from '../server/context.js';
import { AppError, isAppError } from '../lib/errors.js';
import { cliActor } from './context.js';
import { progress } from './output.js';

/**
 * A new version of a model whose production takes other inputs (said first), or decides other things (production has bands; this
 * one the default policy): a canary of it would answer its share of clients with decisions
 * they were never given. Said now, while it is only registered.
 */
export async function warnIfUnlikeProduction(ctx: Context, model: string, version: number): Promise<void> {
  const production = (await ctx.registry.getModel(model)).aliases.production;
  if (production === undefined || production === version) return;
  const [mine, theirs] = await Promise.all([ctx.registry.getVersion(model, version), ctx.registry.getVersion(model, production)]);
  // Other inputs than production's: a graph registered under the wrong --model, or a retrain on other columns.
  const inputs = contractChange(mine.manifest.contract, theirs.manifest.contract);
  if (inputs)
    progress(
      `warning: version ${version} ${describeContractChange(inputs, `production (version ${production})`)}${inputs.added.length === inputs.features ? `; is ${model} the model you meant?` : ''}`,
    );
  const differ = decisionsDiffer(mine.manifest.policy, theirs.manifest.policy, mine.manifest.output.class_labels, theirs.manifest.output.class_labels);
  if (!differ) return;
  const flag = policyFlag(theirs.manifest.policy);
  const clients = differ.added.length
    ? 'a canary of it would answer its share of clients with decisions production never gives'
    : `a canary of it would never give its share of clients ${differ.missing.join(', ')}, which production gives`;
  progress(
    `warning: version ${version} decides ${differ.mine.join(', ')} and production (version ${production}) ${differ.theirs.join(', ')}: ${clients}${
      flag ? `; a version of it that decides like production: modelgate policy set --model ${model} --version ${version} --policy ${flag}` : ''
    }`,
  );
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
