/**
 * The one metric each task is judged by first: held out in training, in retrain's gate, in
 * evaluate's --max-metric-drop, in the version lists. Pure, so the console bundles it too.
 */
export const MAIN_METRIC = { binary: 'roc_auc', multiclass: 'accuracy', regression: 'r2' } as const;

export type MainMetric = (typeof MAIN_METRIC)[keyof typeof MAIN_METRIC];

/** How people write each main metric. */
export const MAIN_METRIC_WORDS: Record<MainMetric, string> = { roc_auc: 'ROC AUC', accuracy: 'accuracy', r2: 'R²' };
