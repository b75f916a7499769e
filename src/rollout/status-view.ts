import { formatDuration } from '../lib/duration.js';
import type { Task } from '../inference/index.js';
import type { Verdict } from './analysis.js';
import { summarize, type ArmCounts, type ArmSummary } from './stats.js';
import type { Rollout } from './store.js';
import type { ShadowComparison, ShadowOutcomes } from './shadow-view.js';

/**
 * The shadow's summary in a status: its arm statistics, how far it agrees with production, and
 * (outcomes) how both did on the same requests by the outcomes fed back for them.
 */
export function shadowSummary(r: Rollout & { shadow_version: number }, c: ArmCounts, task: Task, productionVersion: number | null, outcomes: ShadowOutcomes | null): ArmSummary & ShadowComparison {
  const share = (n: number) => (c.compared ? n / c.compared : null);
  return {
    ...summarize(r.shadow_version, c),
    percent: r.shadow_percent,
    // What it is compared with: production's answers since it started or production last moved.
    production_version: productionVersion,
    started_at: r.shadow_started_at,
    compared: c.compared,
    // What agreement means follows the task: the class for multiclass, the decision otherwise.
    ...(task === 'multiclass' ? { label_agreement: share(c.agreed) } : { decision_agreement: share(c.agreed) }),
    ...(task === 'regression' ? { mean_relative_error: share(c.abs_diff) } : { mean_abs_score_diff: share(c.abs_diff) }),
    // Both arms over the very same labelled requests (labelled is the same in each).
    outcomes,
  };
}

/** A model's rollout status as the API answers it. */
export function statusView(model: string, aliases: Record<string, number>, r: Rollout, verdict: Verdict | undefined, shadow: (ArmSummary & ShadowComparison) | null, warnings: string[] = []) {
  return {
    model,
    target: r.target,
    // The alias is what serves (the guard keeps it equal to the compared version while a canary runs).
    production_version: aliases[r.target] ?? null,
    canary_version: r.canary_version,
    canary_percent: r.canary_percent,
    steps: r.steps,
    step: r.step_index >= 0 ? r.step_index + 1 : null,
    step_interval: formatDuration(r.step_interval_ms),
    step_started_at: r.step_started_at,
    min_requests: r.min_requests,
    auto_promote: r.auto_promote,
    analysis: r.analysis,
    started_at: r.started_at,
    started_by: r.started_by,
    arms: verdict ? { production: verdict.production, canary: verdict.canary } : null,
    outcomes: verdict?.outcomes ?? null,
    verdict: verdict
      ? { status: verdict.status, ...(verdict.reason ? { reason: verdict.reason } : {}), score_psi: verdict.score_psi, checks: verdict.checks, ...(verdict.failed ? { failed: verdict.failed } : {}) }
      : null,
    shadow,
    /** What makes the comparison or the clients' answers differ beyond the model: decisions production never gives. */
    warnings,
  };
}
