import type { Policy, Task } from '../inference/index.js';
import type { RegistryService } from '../registry/index.js';
import { analyse, type Verdict } from './analysis.js';
import { armOutcomes, type ArmOutcomes } from './outcomes.js';
import type { Rollout, RolloutStore } from './store.js';

/** Whether a canary's rules judge outcomes from feedback (only then does each analysis pass read them). */
export const judgesOutcomes = (r: Rollout): boolean => !!r.analysis.outcomes || (r.analysis.custom ?? []).some((c) => c.metric.startsWith('outcome:'));

/** Judging a running canary from the statistics every replica stored. */
export function createCanaryEvaluator(store: RolloutStore, registry: RegistryService, minScored: number) {
  /** A version's task and policy (versions are immutable, so each is read once). */
  const kinds = new Map<string, Promise<{ task: Task; policy: Policy }>>();
  const kindOf = (model: string, version: number) => {
    const key = `${model}@${version}`;
    let k = kinds.get(key);
    if (!k) {
      k = registry.getVersion(model, version).then((v) => ({ task: v.task, policy: v.manifest.policy }));
      k.catch(() => kinds.delete(key));
      kinds.set(key, k);
    }
    return k;
  };

  /**
   * Analysis of the current step window: cluster-wide counts per arm, the verdict, and with
   * `withOutcomes` each arm's outcomes from feedback (a join over the rollout's predictions: the
   * status shows them; an analysis pass reads them only when a rule needs them).
   */
  async function evaluate(r: Rollout, withOutcomes: boolean): Promise<Verdict | undefined> {
    if (r.canary_version === null || r.production_version === null || !r.step_started_at) return undefined;
    const since = Date.parse(r.step_started_at);
    const [prod, canary, prodKind, canaryKind] = await Promise.all([
      store.sumStats(r.model, 'production', r.production_version, since),
      store.sumStats(r.model, 'canary', r.canary_version, since),
      kindOf(r.model, r.production_version),
      kindOf(r.model, r.canary_version),
    ]);
    let outcomes: { production: ArmOutcomes; canary: ArmOutcomes } | undefined;
    if (withOutcomes) {
      // Over the whole rollout, not the step: both versions stay the same from step to step, and
      // labels often come long after their predictions (at 100 % production's come only from before).
      const from = r.started_at ?? r.step_started_at;
      const [prodRows, canaryRows] = await Promise.all([store.outcomes(r.model, 'production', r.production_version, from), store.outcomes(r.model, 'canary', r.canary_version, from)]);
      outcomes = { production: armOutcomes(prodKind.task, prodKind.policy, prodRows), canary: armOutcomes(canaryKind.task, canaryKind.policy, canaryRows) };
    }
    return analyse({ version: r.production_version, counts: prod }, { version: r.canary_version, counts: canary }, r.analysis, {
      minRequests: r.min_requests,
      minScored: minScored,
      canaryPercent: r.canary_percent,
      task: canaryKind.task,
      ...(outcomes ? { outcomes } : {}),
    });
  }

  return { kindOf, evaluate };
}
