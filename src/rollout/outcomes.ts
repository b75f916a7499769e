import type { Policy, Task } from '../inference/index.js';
import { actionDecisions, aucStandardError, finiteOrNull, proportionStandardError, rocAuc, type LabelledPrediction } from '../monitoring/index.js';

/** One canary-window prediction of an arm with the real outcome reported for it (as the monitor reads them). */
export type OutcomeRow = Omit<LabelledPrediction, 'value'>;

import type { ArmOutcomes } from './shadow-view.js';

export type { ArmOutcomes };

/**
 * An arm's outcome metrics from feedback: how the predictions it served turned out. Binary:
 * accuracy of acting (a decision that counts as acting = predicting positive), false-positive
 * rate and ROC AUC; multiclass: accuracy; regression: MAE.
 */
export function armOutcomes(task: Task, policy: Policy, rows: OutcomeRow[]): ArmOutcomes {
  const none = { accuracy: null, false_positive_rate: null, roc_auc: null, mae: null };
  if (task === 'regression') {
    const valued = rows.filter((r) => r.actual_value !== null);
    const errors = valued.map((r) => Math.abs(r.actual_value! - r.score));
    const mae = errors.length ? errors.reduce((s, e) => s + e, 0) / errors.length : NaN;
    // The sample standard deviation of the absolute errors over √n.
    const se = errors.length > 1 ? Math.sqrt(errors.reduce((s, e) => s + (e - mae) ** 2, 0) / (errors.length - 1) / errors.length) : NaN;
    return { ...none, labelled: valued.length, mae: finiteOrNull(mae), standard_errors: { ...none, mae: finiteOrNull(se) } };
  }
  if (task === 'multiclass') {
    const classed = rows.filter((r) => r.actual_class !== null && r.predicted !== null);
    const right = classed.filter((r) => r.actual_class === r.predicted).length;
    return {
      ...none,
      labelled: classed.length,
      accuracy: classed.length ? right / classed.length : null,
      standard_errors: { ...none, accuracy: finiteOrNull(proportionStandardError(right, classed.length)) },
    };
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
  const auc = rocAuc(
    labelled.map((r) => r.score),
    labelled.map((r) => r.label!),
  );
  return {
    ...none,
    labelled: labelled.length,
    accuracy: labelled.length ? right / labelled.length : null,
    false_positive_rate: negatives ? falsePositives / negatives : null,
    roc_auc: finiteOrNull(auc),
    standard_errors: {
      ...none,
      accuracy: finiteOrNull(proportionStandardError(right, labelled.length)),
      false_positive_rate: finiteOrNull(proportionStandardError(falsePositives, negatives)),
      roc_auc: finiteOrNull(aucStandardError(auc, labelled.length - negatives, negatives)),
    },
  };
}
