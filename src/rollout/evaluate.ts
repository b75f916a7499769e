import type { ClassLabel, Policy, Task } from '../inference/index.js';
import type { Clock } from '../lib/clock.js';
import type { RegistryService } from '../registry/index.js';
import { analyse, type Verdict } from './analysis.js';
import { armOutcomes, type ArmOutcomes } from './outcomes.js';
import type { Rollout, RolloutStore } from './store.js';
import type { ShadowOutcomes } from './shadow-view.js';

/** Whether a canary's rules judge outcomes from feedback (only then does each analysis pass read them). */
export const judgesOutcomes = (r: Rollout): boolean => !!r.analysis.outcomes || (r.analysis.custom ?? []).some((c) => c.metric.startsWith('outcome:'));

/**
 * How long a rollout's outcomes from feedback are reused. Reading them joins every labelled
 * prediction of the rollout (about 0.3 s an arm at 100,000 on PostgreSQL), and the console asks
 * for the status every 3 seconds; labels arrive over hours. Feedback this process stores is seen
 * at once (it drops what it reused); another replica's within this time.
 */
export const OUTCOMES_REUSE_MS = 10_000;

type BothArms = { production: ArmOutcomes; canary: ArmOutcomes };

/** Judging a running canary from the statistics every replica stored. */
export function createCanaryEvaluator(store: RolloutStore, registry: RegistryService, minScored: number, clock: Clock) {
  /** A version's task and policy (versions are immutable, so each is read once). */
  const kinds = new Map<string, Promise<{ task: Task; policy: Policy; classes?: ClassLabel[] }>>();
  const kindOf = (model: string, version: number) => {
    const key = `${model}@${version}`;
    let k = kinds.get(key);
    if (!k) {
      k = registry.getVersion(model, version).then((v) => ({ task: v.task, policy: v.manifest.policy, classes: v.manifest.output.class_labels }));
      k.catch(() => kinds.delete(key));
      kinds.set(key, k);
    }
    return k;
  };

  const reused = new Map<string, { model: string; at: number; value: Promise<unknown> }>();

  /** What read(), keyed by key, gave within OUTCOMES_REUSE_MS, or a new read. */
  function reuse<T>(model: string, key: string, read: () => Promise<T>): Promise<T> {
    const now = clock.now().getTime();
    for (const [k, e] of reused) if (now - e.at >= OUTCOMES_REUSE_MS || now < e.at) reused.delete(k);
    const hit = reused.get(key);
    if (hit) return hit.value as Promise<T>;
    const value = read();
    value.catch(() => reused.delete(key));
    reused.set(key, { model, at: now, value });
    return value;
  }

  /** Each arm's outcomes over the whole rollout, reused for OUTCOMES_REUSE_MS. */
  function outcomesOf(r: Rollout & { production_version: number; canary_version: number; step_started_at: string }): Promise<BothArms> {
    // Over the whole rollout, not the step: both versions stay the same from step to step, and
    // labels often come long after their predictions (at 100 % production's come only from before).
    const from = r.started_at ?? r.step_started_at;
    return reuse(r.model, JSON.stringify([r.model, from, r.production_version, r.canary_version]), async () => {
      const [prodKind, canaryKind, prodRows, canaryRows] = await Promise.all([
        kindOf(r.model, r.production_version),
        kindOf(r.model, r.canary_version),
        store.outcomes(r.model, 'production', r.production_version, from),
        store.outcomes(r.model, 'canary', r.canary_version, from),
      ]);
      return { production: armOutcomes(prodKind.task, prodKind.policy, prodRows), canary: armOutcomes(canaryKind.task, canaryKind.policy, canaryRows) };
    });
  }

  /**
   * A shadow's outcomes since it started (or production last moved): its answers and
   * production's to the same requests, judged on the outcomes fed back for them; reused alike.
   */
  function shadowOutcomesOf(model: string, shadowVersion: number, productionVersion: number, sinceIso: string): Promise<ShadowOutcomes> {
    return reuse(model, JSON.stringify(['shadow', model, sinceIso, productionVersion, shadowVersion]), async () => {
      const [prodKind, shadowKind, rows] = await Promise.all([kindOf(model, productionVersion), kindOf(model, shadowVersion), store.shadowOutcomes(model, shadowVersion, productionVersion, sinceIso)]);
      return { production: armOutcomes(prodKind.task, prodKind.policy, rows.production), shadow: armOutcomes(shadowKind.task, shadowKind.policy, rows.shadow) };
    });
  }

  /** Feedback for these models was stored here: their outcomes are read afresh next time. */
  function feedbackStored(models: Iterable<string>): void {
    const touched = new Set(models);
    for (const [key, e] of reused) if (touched.has(e.model)) reused.delete(key);
  }

  /**
   * Analysis of the current step window: cluster-wide counts per arm, the verdict, and with
   * `withOutcomes` each arm's outcomes from feedback (a join over the rollout's predictions: the
   * status shows them; an analysis pass reads them only when a rule needs them).
   */
  async function evaluate(r: Rollout, withOutcomes: boolean): Promise<Verdict | undefined> {
    if (r.canary_version === null || r.production_version === null || !r.step_started_at) return undefined;
    const since = Date.parse(r.step_started_at);
    const [prod, canary, canaryKind] = await Promise.all([
      store.sumStats(r.model, 'production', r.production_version, since),
      store.sumStats(r.model, 'canary', r.canary_version, since),
      kindOf(r.model, r.canary_version),
    ]);
    const outcomes = withOutcomes ? await outcomesOf({ ...r, production_version: r.production_version, canary_version: r.canary_version, step_started_at: r.step_started_at }) : undefined;
    return analyse({ version: r.production_version, counts: prod }, { version: r.canary_version, counts: canary }, r.analysis, {
      minRequests: r.min_requests,
      minScored: minScored,
      canaryPercent: r.canary_percent,
      task: canaryKind.task,
      ...(outcomes ? { outcomes } : {}),
    });
  }

  return { kindOf, evaluate, feedbackStored, shadowOutcomesOf };
}
