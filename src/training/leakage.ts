import { MAIN_METRIC_WORDS } from '../lib/main-metric.js';
import { regressionMetrics, rocAuc } from '../monitoring/index.js';
import type { Dataset } from './dataset.js';

/** A column that alone gives the target on the held-out rows, and how well. */
export interface LeakingColumn {
  column: string;
  /** roc_auc (binary), accuracy (multiclass) or r2 (regression), on the held-out rows. */
  measure: 'roc_auc' | 'accuracy' | 'r2';
  value: number;
}

/** How close to perfect one column alone must come to be named. */
const NEARLY_PERFECT = 0.99;
/** Fewer held-out rows with a value than this, and a column is not judged: a few rows agree by chance. */
const LEAST_ROWS = 50;

/**
 * Columns that alone predict the target on the held-out rows (nearly) perfectly: most often a
 * column written after the outcome (a booking's reservation_status, a customer's closing
 * date), which serving will not have when it decides, so the model's held-out metrics promise
 * what it cannot do. Judged with what the training rows teach (a category's rate of the target,
 * a number's order), on the held-out rows, so an identifier unique to each row is not named.
 */
export function leakingColumns(split: { train: Dataset; test: Dataset }): LeakingColumn[] {
  const { train, test } = split;
  const task = train.task ?? 'binary';
  const found: LeakingColumn[] = [];
  for (const [column, values] of Object.entries(test.numeric)) {
    const rows = present(values);
    if (rows.length < LEAST_ROWS) continue;
    if (task === 'binary') {
      const auc = rocAuc(
        rows.map((i) => values[i]),
        rows.map((i) => test.label[i]),
      );
      // A number that falls as the target rises predicts it as well as one that rises.
      if (Number.isFinite(auc) && Math.max(auc, 1 - auc) >= NEARLY_PERFECT) found.push({ column, measure: 'roc_auc', value: Math.max(auc, 1 - auc) });
    } else if (task === 'regression') {
      const r = pearson(
        rows.map((i) => values[i]),
        rows.map((i) => test.target![i]),
      );
      if (r * r >= NEARLY_PERFECT) found.push({ column, measure: 'r2', value: r * r });
    }
  }
  for (const [column, values] of Object.entries(test.categorical)) {
    const taught = train.categorical[column];
    if (!taught || test.rows < LEAST_ROWS) continue;
    const leak =
      task === 'binary'
        ? categoryAuc(taught, train.label, values, test.label)
        : task === 'multiclass'
          ? categoryAccuracy(taught, train, values, test)
          : categoryR2(taught, train.target!, values, test.target!);
    if (leak) found.push({ column, ...leak });
  }
  return found.sort((a, b) => b.value - a.value || a.column.localeCompare(b.column));
}

/** The warning for the training output: which columns, how well, and the --exclude that leaves them out. */
export function leakageWarning(found: LeakingColumn[], target: string): string | undefined {
  if (!found.length) return undefined;
  const word = MAIN_METRIC_WORDS;
  const named = found.map((f) => `${f.column} (${word[f.measure]} ${f.value.toFixed(3)})`).join(', ');
  const one = found.length === 1;
  return `${named} alone predict${one ? 's' : ''} ${target} on the held-out rows almost perfectly: a column written after the outcome leaks it, and serving will not have ${one ? 'it' : 'them'} when it decides; if so, leave ${one ? 'it' : 'them'} out with --exclude ${found.map((f) => f.column).join(',')}`;
}

function present(values: Float64Array): number[] {
  const rows: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) rows.push(i);
  return rows;
}

/** Each category's mean target on the training rows; a category they never had gets the overall mean. */
function categoryMeans(categories: string[], target: ArrayLike<number>): { of: (c: string) => number } {
  const sums = new Map<string, { sum: number; n: number }>();
  let total = 0;
  for (let i = 0; i < categories.length; i++) {
    const s = sums.get(categories[i]) ?? { sum: 0, n: 0 };
    s.sum += target[i];
    s.n++;
    sums.set(categories[i], s);
    total += target[i];
  }
  const overall = categories.length ? total / categories.length : 0;
  return {
    of: (c) => {
      const s = sums.get(c);
      return s ? s.sum / s.n : overall;
    },
  };
}

function categoryAuc(taught: string[], trainLabel: Uint8Array, values: string[], testLabel: Uint8Array): Omit<LeakingColumn, 'column'> | undefined {
  const means = categoryMeans(taught, trainLabel);
  const auc = rocAuc(
    values.map((c) => means.of(c)),
    testLabel,
  );
  return Number.isFinite(auc) && auc >= NEARLY_PERFECT ? { measure: 'roc_auc', value: auc } : undefined;
}

function categoryR2(taught: string[], trainTarget: Float64Array, values: string[], testTarget: Float64Array): Omit<LeakingColumn, 'column'> | undefined {
  const means = categoryMeans(taught, trainTarget);
  const { r2 } = regressionMetrics(
    values.map((c) => means.of(c)),
    testTarget,
  );
  return r2 >= NEARLY_PERFECT ? { measure: 'r2', value: r2 } : undefined;
}

/** Each category's most frequent class on the training rows, scored on the held-out rows; named only where the most frequent class alone is far from it. */
function categoryAccuracy(taught: string[], train: Dataset, values: string[], test: Dataset): Omit<LeakingColumn, 'column'> | undefined {
  const k = train.classes?.length ?? 0;
  const counts = new Map<string, Uint32Array>();
  const overall = new Uint32Array(k);
  for (let i = 0; i < taught.length; i++) {
    const c = counts.get(taught[i]) ?? new Uint32Array(k);
    c[train.classIndex![i]]++;
    overall[train.classIndex![i]]++;
    counts.set(taught[i], c);
  }
  const argmax = (c: Uint32Array) => c.indexOf(Math.max(...c));
  const fallback = argmax(overall);
  let right = 0;
  let majority = 0;
  for (let i = 0; i < values.length; i++) {
    const c = counts.get(values[i]);
    if ((c ? argmax(c) : fallback) === test.classIndex![i]) right++;
    if (fallback === test.classIndex![i]) majority++;
  }
  const accuracy = right / values.length;
  // A class nearly every row has is predicted "perfectly" by anything.
  return accuracy >= NEARLY_PERFECT && majority / values.length < 0.9 ? { measure: 'accuracy', value: accuracy } : undefined;
}

function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}
