import type { Policy, Task } from '../inference/index.js';
import { actionDecisions, finiteOrNull, rocAuc, type LabelledPrediction } from '../monitoring/index.js';

/** One canary-window prediction of an arm with the real outcome reported for it (as the monitor reads them). */
export type OutcomeRow = Omit<LabelledPrediction, 'value'>;

/**
 * An arm's outcome metrics from feedback: how the predictions it served turned out. Binary:
 * accuracy of acting (a decision that counts as acting = predicting positive), false-positive
 * rate and ROC AUC; multiclass: accuracy; regression: MAE.
 */
export interface ArmOutcomes {
  labelled: number;
  accuracy: number | null;
  false_positive_rate: number | null;
  roc_auc: number | null;
  mae: number | null;
}

export function armOutcomes(task: Task, policy: Policy, rows: OutcomeRow[]): ArmOutcomes {
  const none = { accuracy: null, false_positive_rate: null, roc_auc: null, mae: null };
  if (task === 'regression') {
    const valued = rows.filter((r) => r.actual_value !== null);
    const mae = valued.length ? valued.reduce((s, r) => s + Math.abs(r.actual_value! - r.score), 0) / valued.length : NaN;
    return { ...none, labelled: valued.length, mae: finiteOrNull(mae) };
  }
  if (task === 'multiclass') {
    const classed = rows.filter((r) => r.actual_class !== null && r.predicted !== null);
    const right = classed.filter((r) => r.actual_class === r.predicted).length;
    return { ...none, labelled: classed.length, accuracy: classed.length ? right / classed.length : null };
  }
  const labelled = rows.filter((r) => r.label === 0 || r.label === 1);
  const acting = new Set(actionDecisions(policy));
  let right = 0;
  let negatives = 0;
  let falsePositives = 0;
  for (const r of labelled) {
    const acted = acting.has(r.decision) ? 1 : 0;
    if (acted === r.label) right++;
    if (r.label === 0) {
      negatives++;
      if (acted) falsePositives++;
    }
  }
  return {
    ...none,
    labelled: labelled.length,
    accuracy: labelled.length ? right / labelled.length : null,
    false_positive_rate: negatives ? falsePositives / negatives : null,
    roc_auc: finiteOrNull(
      rocAuc(
        labelled.map((r) => r.score),
        labelled.map((r) => r.label!),
      ),
    ),
  };
}
