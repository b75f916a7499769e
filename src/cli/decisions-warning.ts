import { decisionsDiffer, policyFlag } from '../inference/index.js';
import type { Context } from '../server/context.js';
import { progress } from './output.js';

/**
 * A new version of a model whose production decides other things (production has bands; this
 * one the default policy): a canary of it would answer its share of clients with decisions
 * they were never given. Said now, while it is only registered.
 */
export async function warnIfDecidesUnlikeProduction(ctx: Context, model: string, version: number): Promise<void> {
  const production = (await ctx.registry.getModel(model)).aliases.production;
  if (production === undefined || production === version) return;
  const [mine, theirs] = await Promise.all([ctx.registry.getVersion(model, version), ctx.registry.getVersion(model, production)]);
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
