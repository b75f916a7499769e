import { decisionsDiffer, policyFlag, type Policy } from '../inference/index.js';
import type { Context } from '../server/context.js';
import { progress } from './output.js';

/**
 * A new version of a model whose production decides other things (production has bands; this
 * one the default policy): a canary of it would answer its share of clients with decisions
 * they were never given. Said now, while it is only registered.
 */
export async function warnIfDecidesUnlikeProduction(ctx: Context, model: string, version: number, policy: Policy): Promise<void> {
  const production = (await ctx.registry.getModel(model)).aliases.production;
  if (production === undefined || production === version) return;
  const theirs = (await ctx.registry.getVersion(model, production)).manifest.policy;
  const differ = decisionsDiffer(policy, theirs);
  if (!differ) return;
  const flag = policyFlag(theirs);
  progress(
    `warning: version ${version} decides ${differ.mine.join(', ')} and production (version ${production}) ${differ.theirs.join(', ')}: a canary of it would answer its share of clients with decisions production never gives${
      flag ? `; a version of it that decides like production: modelgate policy set --model ${model} --version ${version} --policy ${flag}` : ''
    }`,
  );
}
