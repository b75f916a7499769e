/** The rules as GET /v1/canary/:model returns them (AnalysisRules; this file is the console's too, so it names only what it reads). */
export interface RulesShown {
  max_error_ratio: number;
  max_p95_ratio: number;
  max_decision_rate_delta_pp?: number;
  max_score_psi?: number;
  min_scored_per_arm?: number;
  custom?: { metric: string; op: string; threshold: number }[];
  outcomes?: { min_labels_per_arm: number; max_fpr_delta_pp?: number; max_accuracy_drop_pp?: number; max_auc_drop?: number; max_mae_ratio?: number };
}

/** Below this error rate a canary is never judged worse: one error in 200 requests is noise. */
export const ERROR_RATE_FLOOR = 0.01;
/** p95 latencies under this are compared as this: sub-millisecond ratios are histogram noise. */
export const P95_FLOOR_MS = 1;

/** A number as the rules show it: 1.5 × 1 % is 1.5 %, not 1.5000000000000002 %. */
const shown = (x: number) => String(Number(x.toPrecision(6)));

/**
 * A canary's rollback rules in words, as `canary status` and the console's Rollout page show
 * them: rules can change while a canary runs (a start request naming them), and the verdict's
 * checks list only the rules it could judge yet.
 */
export function describeRules(rules: RulesShown): string {
  const request = [
    // With the floors: a limit the history shows (1.3 ms for a p95 of 0.2 ms) is one the rules said.
    `error rate > ${rules.max_error_ratio} × production's (at least ${shown(rules.max_error_ratio * ERROR_RATE_FLOOR * 100)} %)`,
    `p95 > ${rules.max_p95_ratio} × production's (at least ${shown(rules.max_p95_ratio * P95_FLOOR_MS)} ms)`,
    ...(rules.max_decision_rate_delta_pp !== undefined ? [`a decision rate more than ${rules.max_decision_rate_delta_pp} points off production's`] : []),
    ...(rules.max_score_psi !== undefined ? [`score PSI > ${rules.max_score_psi}`] : []),
  ];
  const o = rules.outcomes;
  const outcomes = o
    ? [
        ...(o.max_fpr_delta_pp !== undefined ? [`false-positive rate more than ${o.max_fpr_delta_pp} points off production's`] : []),
        ...(o.max_accuracy_drop_pp !== undefined ? [`accuracy more than ${o.max_accuracy_drop_pp} points below production's`] : []),
        ...(o.max_auc_drop !== undefined ? [`ROC AUC more than ${o.max_auc_drop} below production's`] : []),
        ...(o.max_mae_ratio !== undefined ? [`MAE > ${o.max_mae_ratio} × production's`] : []),
      ]
    : [];
  const custom = (rules.custom ?? []).map((r) => `${r.metric} ${r.op} ${r.threshold}`);
  const parts = [`rolls back on ${request.join(', ')}`];
  if (outcomes.length) parts.push(`on feedback (${o!.min_labels_per_arm} labels per arm): ${outcomes.join(', ')}`);
  if (custom.length) parts.push(`custom: ${custom.join(', ')}`);
  if (rules.min_scored_per_arm !== undefined) parts.push(`${rules.min_scored_per_arm} model-scored requests per arm first`);
  return parts.join('; ');
}
