/**
 * What a rollout status says of the shadow and of each arm's outcomes: types only, shared by the
 * server, `canary status` and the console (which compiles this file on its own).
 */

/** An arm's outcome metrics from feedback (null where the task gives none, or no label came yet). */
export interface ArmOutcomes {
  labelled: number;
  accuracy: number | null;
  false_positive_rate: number | null;
  roc_auc: number | null;
  mae: number | null;
  /**
   * Each metric's standard error over this many labels (proportions as Agresti and Caffo, ROC
   * AUC as Hanley and McNeil, MAE as the absolute errors' standard deviation over √n): how far
   * the metric may move by chance, which the outcome rules weigh before a rollback.
   */
  standard_errors: { accuracy: number | null; false_positive_rate: number | null; roc_auc: number | null; mae: number | null };
}

/** Production's and the shadow's answers to the same requests, judged by the outcomes fed back for them. */
export interface ShadowOutcomes {
  production: ArmOutcomes;
  shadow: ArmOutcomes;
}

/** How the shadow compares with production, beside its own arm statistics in a status. */
export interface ShadowComparison {
  percent: number;
  /** What it is compared with: production's answers since it started or production last moved. */
  production_version: number | null;
  started_at: string | null;
  compared: number;
  /** Multiclass: the class; otherwise the decision. */
  label_agreement?: number | null;
  decision_agreement?: number | null;
  /** Regression: relative to production's value; otherwise the score's difference. */
  mean_relative_error?: number | null;
  mean_abs_score_diff?: number | null;
  outcomes: ShadowOutcomes | null;
}
