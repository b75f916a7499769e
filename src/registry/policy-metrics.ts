/** Held-out figures a binary model's policy decides: measured at its threshold, or under its cost matrix. */
const AT_THE_POLICY = ['f1', 'precision', 'recall', 'action_rate'] as const;
const UNDER_THE_COSTS = 'expected_profit_per_row';

/**
 * A version's metrics, less those a new policy (`policy set`) makes untrue: F1, precision,
 * recall and action rate were measured at the old threshold, and the expected profit under the
 * old policy and costs. Kept, monitoring's retrain_recommended compared live F1 at the new
 * threshold with training's at the old one, and recommended retraining a model that had only
 * been given another threshold. The ranking figures (ROC AUC, PR AUC, log loss, Brier) stay.
 * `samePolicy`: only the cost matrix changed, so only the profit goes. `measured`: figures of the
 * new policy measured on other labelled rows (`policy set --cost --data`), which take their place.
 */
export function policyFreeMetrics(metrics: Record<string, number> | undefined, samePolicy: boolean, measured: Record<string, number> = {}): { metrics?: Record<string, number>; leftOut: string[] } {
  if (!metrics) return Object.keys(measured).length ? { metrics: { ...measured }, leftOut: [] } : { leftOut: [] };
  const drop = new Set<string>(samePolicy ? [UNDER_THE_COSTS] : [...AT_THE_POLICY, UNDER_THE_COSTS]);
  const kept = Object.fromEntries(Object.entries(metrics).filter(([k]) => !drop.has(k)));
  return { metrics: { ...kept, ...measured }, leftOut: Object.keys(metrics).filter((k) => drop.has(k) && !(k in measured)) };
}
