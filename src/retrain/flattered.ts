import { MAIN_METRIC, MAIN_METRIC_WORDS } from '../lib/main-metric.js';
import { aucStandardError } from '../monitoring/index.js';
import { describeTrainedShare, trainedShare, type Dataset, type RowSketch, type TrainingTask } from '../training/index.js';

/** How far past chance (standard errors of the difference) and past this much a better score must be to be named. */
const SIGMAS = 3;
const LEAST_GAIN = 0.02;

/**
 * The version retrained from scores far better on the retrain's held-out rows than it did on its
 * own held-out rows when it was trained: it most likely learned many of them. Retraining holds out
 * rows by their place in the file (every fourth), so a file whose rows moved (a newest-first
 * export, new rows put first, a shuffle) holds out rows the version was trained on, and the
 * candidate is compared with a flattered score: on the bank churn file read backwards, version 1
 * scored ROC AUC 0.927 there against 0.851 on its own held-out rows, and a candidate as good as it
 * was gated out. Undefined when nothing says so; drift makes the version worse there, not better.
 */
export function flatteredWarning(
  task: TrainingTask,
  recorded: Record<string, unknown> | undefined,
  now: Record<string, number>,
  test: Dataset,
  version: number,
  /** The run's time column, when it was split by time: then the held-out rows are the latest, not every fourth. */
  timeColumn?: string,
): string | undefined {
  const metric = MAIN_METRIC[task];
  const before = recorded?.[metric];
  const after = now[metric];
  if (typeof before !== 'number' || !Number.isFinite(before) || typeof after !== 'number' || !Number.isFinite(after)) return undefined;
  const gain = after - before;
  if (gain < LEAST_GAIN) return undefined;
  if (task === 'regression') {
    // R² has no simple standard error: the unexplained share must have fallen by a quarter or more.
    if (1 - after > 0.75 * (1 - before)) return undefined;
  } else {
    let se: number;
    if (task === 'binary') {
      let positives = 0;
      for (const y of test.label) positives += y;
      se = aucStandardError(after, positives, test.rows - positives);
    } else se = Math.sqrt((after * (1 - after)) / test.rows);
    // Both scores carry about this much chance: the difference, about √2 times it.
    if (!Number.isFinite(se) || gain < SIGMAS * Math.SQRT2 * se) return undefined;
  }
  const name = MAIN_METRIC_WORDS[metric];
  const scored = `version ${version} scores ${name} ${after.toFixed(4)} on these held-out rows against ${before.toFixed(4)} on its own when it was trained: it was most likely trained on many of them, so the comparison flatters it.`;
  return withWayOut(scored, version, timeColumn);
}

/**
 * The same, known rather than inferred: the version's run kept a sample of its training rows'
 * keys (training/row-sketch.ts), and this share of the retrain's held-out rows are among them.
 * Undefined when its run kept none (versions trained before 2026-12-07: flatteredWarning then
 * infers it from the scores), or fewer are.
 */
export function trainedRowsWarning(sketch: RowSketch | undefined, test: Dataset, version: number, timeColumn?: string): { said?: string } | undefined {
  if (!sketch) return undefined;
  const column = (c: string) => (test.numeric[c] ?? test.categorical[c]) as ArrayLike<unknown> | undefined;
  if (sketch.columns.some((c) => column(c) === undefined)) return undefined;
  const t = trainedShare(sketch, sketch.columns, (i) => sketch.columns.map((c) => column(c)![i]), test.rows);
  const said = t && describeTrainedShare(t, 'the held-out rows the candidate is compared on', version);
  return said ? { said: withWayOut(`${said}, so the comparison flatters it.`, version, timeColumn) } : {};
}

function withWayOut(scored: string, version: number, timeColumn?: string): string {
  if (timeColumn)
    return `${scored} Retraining holds out the new data's latest rows by ${timeColumn}; if they fall in the period version ${version} was trained on, retrain on data that runs past it, or judge the candidate with modelgate evaluate on rows version ${version} never saw`;
  return `${scored} Retraining holds out every fourth row by its place in the file; if the file's rows moved since (newest first, new rows put first, shuffled), keep the old rows in their order with new rows after them, or judge the candidate with modelgate evaluate on rows version ${version} never saw`;
}
