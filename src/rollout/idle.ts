import { analysisSchema } from './analysis.js';
import type { Rollout } from './store.js';

/** A rollout with a canary running. */
export type RunningCanary = Rollout & { canary_version: number };

export const runningCanary = (r: Rollout | undefined): RunningCanary | undefined => (r && r.canary_version !== null ? (r as RunningCanary) : undefined);

const DEFAULT_RULES = analysisSchema.parse({});

/**
 * The rollout row of a model with no canary: the default settings, keeping from `base` its
 * target, compared version, canary revision and any shadow (a shadow outlives canaries).
 */
export function idleRollout(model: string, defaults: { stepIntervalMs: number; minRequests: number }, at: string, base?: Rollout): Rollout {
  return {
    model,
    target: base?.target ?? 'production',
    production_version: base?.production_version ?? null,
    canary_version: null,
    canary_percent: 0,
    steps: [],
    step_index: -1,
    step_interval_ms: defaults.stepIntervalMs,
    min_requests: defaults.minRequests,
    analysis: DEFAULT_RULES,
    auto_promote: false,
    shadow_version: base?.shadow_version ?? null,
    shadow_percent: base?.shadow_percent ?? 0,
    shadow_started_at: base?.shadow_started_at ?? null,
    started_at: null,
    step_started_at: null,
    started_by: null,
    updated_at: at,
    canary_revision: base?.canary_revision ?? 0,
  };
}
