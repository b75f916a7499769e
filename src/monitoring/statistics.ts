/**
 * The statistics modelgate computes, done once: rollout analysis, drift monitoring, training
 * and evaluation all call these, so their numbers agree to the last digit. Each is checked
 * against scipy / scikit-learn values in statistics.test.ts (fixtures made by
 * scripts/statistics-fixtures.py).
 *
 * Histograms are arrays of counts over the same bins. Functions return NaN when a value is
 * undefined (an empty sample, a single class); reports turn NaN into null.
 */

/** A statistic for JSON: NaN, ±Infinity and undefined become null. */
export const finiteOrNull = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);

const sum = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s;
};

/** Population stability index between two histograms over the same bins (a = expected, b = actual). */
export function psi(a: readonly number[], b: readonly number[], epsilon = 1e-4): number {
  const ta = sum(a);
  const tb = sum(b);
  if (ta === 0 || tb === 0) return NaN;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    // Empty bins get a small share so the log stays finite (the usual convention).
    const pa = Math.max(a[i] / ta, epsilon);
    const pb = Math.max((b[i] ?? 0) / tb, epsilon);
    s += (pb - pa) * Math.log(pb / pa);
  }
  return s;
}

/**
 * Jensen–Shannon distance (the square root of the divergence, log base 2, so 0 ≤ d ≤ 1)
 * between two histograms over the same categories; scipy.spatial.distance.jensenshannon(p, q, base=2).
 */
export function jsDistance(a: readonly number[], b: readonly number[]): number {
  const ta = sum(a);
  const tb = sum(b);
  if (ta === 0 || tb === 0) return NaN;
  let div = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] / ta;
    const q = (b[i] ?? 0) / tb;
    const m = (p + q) / 2;
    if (p > 0) div += 0.5 * p * Math.log2(p / m);
    if (q > 0) div += 0.5 * q * Math.log2(q / m);
  }
  return Math.sqrt(Math.max(0, div));
}

/**
 * Survival function of the Kolmogorov distribution, P(K > λ) (scipy.stats.kstwobign.sf).
 * Two series, each used where it converges fast, so the result is accurate for every λ.
 */
export function kolmogorovSf(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    // CDF = √(2π)/λ · Σ exp(−(2k−1)²π²/(8λ²)).
    const c = -(Math.PI * Math.PI) / (8 * lambda * lambda);
    let cdf = 0;
    for (let k = 1; k <= 20; k++) cdf += Math.exp(c * (2 * k - 1) ** 2);
    return 1 - (Math.sqrt(2 * Math.PI) / lambda) * cdf;
  }
  let s = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    s += (k % 2 ? 1 : -1) * term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

/** Asymptotic two-sided p-value of a two-sample KS statistic d for sample sizes n and m. */
export function ksPValue(d: number, n: number, m: number): number {
  if (n === 0 || m === 0 || Number.isNaN(d)) return NaN;
  return kolmogorovSf(Math.sqrt((n * m) / (n + m)) * d);
}

export interface KsResult {
  statistic: number;
  p_value: number;
}

/** Two-sample Kolmogorov–Smirnov on raw samples (statistic as scipy.stats.ks_2samp; p-value asymptotic). */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  if (x.length === 0 || y.length === 0) return { statistic: NaN, p_value: NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i++;
    while (j < y.length && y[j] <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return { statistic: d, p_value: ksPValue(d, x.length, y.length) };
}

/**
 * KS from two histograms over the same ordered bins: the largest CDF gap at the bin
 * boundaries. With bins at every distinct value this equals ksTwoSample; with coarser bins it
 * is a lower bound of it (the gap can only be looked at where the bins end).
 */
export function ksFromCounts(a: readonly number[], b: readonly number[]): KsResult {
  const ta = sum(a);
  const tb = sum(b);
  if (ta === 0 || tb === 0) return { statistic: NaN, p_value: NaN };
  let ca = 0;
  let cb = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    ca += a[i];
    cb += b[i] ?? 0;
    d = Math.max(d, Math.abs(ca / ta - cb / tb));
  }
  return { statistic: d, p_value: ksPValue(d, ta, tb) };
}

/**
 * Quantile from a histogram with upper bounds `bounds` (the last bin is everything above the
 * last bound), interpolating linearly inside the bin like Prometheus' histogram_quantile.
 */
export function histogramQuantile(counts: readonly number[], bounds: readonly number[], q: number): number {
  const total = sum(counts);
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] >= rank && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + ((bounds[i] - lower) * (rank - seen)) / counts[i];
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1];
}

/**
 * How many of a histogram's observations lie above `x`: the inverse of histogramQuantile,
 * interpolating linearly inside x's bin, so that the q-quantile exceeds x exactly when more than
 * (1 − q) of the observations do. The open last bin counts as above any x below its lower bound.
 */
export function histogramCountAbove(counts: readonly number[], bounds: readonly number[], x: number): number {
  let above = 0;
  for (let i = counts.length - 1; i >= 0; i--) {
    const lower = i === 0 ? 0 : bounds[i - 1];
    if (lower >= x) above += counts[i];
    else {
      if (i < bounds.length && x < bounds[i]) above += (counts[i] * (bounds[i] - x)) / (bounds[i] - lower);
      break;
    }
  }
  return above;
}

/**
 * Lower bound of the Wilson score interval for a proportion of k in n, at z standard errors
 * (3.09 for a one-sided 99.9 % bound). Unlike p̂ − z·se it stays inside [0, 1] and behaves for
 * small n and proportions near 0, which is where a canary's tail is judged. 0 when n is 0.
 */
export function wilsonLower(k: number, n: number, z: number): number {
  if (n <= 0) return 0;
  const p = k / n;
  const z2 = z * z;
  return Math.max(0, (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/**
 * Standard error of a proportion of k in n for comparing two of them (Agresti and Caffo 2000:
 * one success and one failure added to each sample), so that a proportion of 0 or 1 still has
 * an error: production with no false positives among 100 negatives is not known to be exactly 0.
 * NaN when n is 0.
 */
export function proportionStandardError(k: number, n: number): number {
  if (n <= 0) return NaN;
  const p = (k + 1) / (n + 2);
  return Math.sqrt((p * (1 - p)) / (n + 2));
}

/**
 * Standard error of a ROC AUC from the numbers of positives and negatives it was computed on
 * (Hanley and McNeil 1982, with their exponential approximations Q1 = A/(2−A), Q2 = 2A²/(1+A)).
 * NaN without both classes.
 */
export function aucStandardError(auc: number, positives: number, negatives: number): number {
  if (positives <= 0 || negatives <= 0 || !Number.isFinite(auc)) return NaN;
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const a2 = auc * auc;
  return Math.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - a2) + (negatives - 1) * (q2 - a2)) / (positives * negatives));
}

/**
 * Bin edges at the 1/bins … (bins−1)/bins quantiles of the finite values (each the smallest
 * value with at least that share at or below it), duplicates dropped, so a column with few
 * distinct values gets fewer bins rather than empty ones.
 */
export function quantileEdges(values: ArrayLike<number>, bins: number): number[] {
  const v = Float64Array.from(values)
    .filter((x) => Number.isFinite(x))
    .sort();
  if (v.length === 0) return [];
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = v[Math.min(v.length - 1, Math.ceil((k * v.length) / bins) - 1)];
    if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  }
  // The top edge would leave the last bin empty: the maximum belongs to the bin below it.
  if (edges.length && edges[edges.length - 1] === v[v.length - 1]) edges.pop();
  return edges;
}

/** Bin of x for edges e: bin i holds e[i−1] < x ≤ e[i]; edges.length is the bin above the last edge. */
export function binOf(x: number, edges: readonly number[]): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Bin of a served prediction on edges made from the trainer's own predictions: a value at most
 * `servedTolerance(edges)` above an edge counts as at it. The trainer scores in float64 and the
 * served graph in float32 (and onnxruntime's sigmoid and tree sums round their own way), so a
 * served score sits a few units of its 7th digit off the trainer's; a tree model gives many rows
 * one score, which is then an edge, and without the tolerance half of those rows crossed it
 * (a gradient-boosted model served its own training rows read prediction PSI 1.58).
 */
export function binOfServed(x: number, edges: readonly number[], tolerance: number): number {
  const b = binOf(x, edges);
  return b > 0 && x - edges[b - 1] <= tolerance ? b - 1 : b;
}

/** How far a served prediction may sit above an edge and count as at it: 1e-5 of the larger of 1 and the largest edge (the engines' own agreement is 1e-6 of that; float32 sums of many trees drift further). */
export function servedTolerance(edges: readonly number[]): number {
  let scale = 1;
  for (const e of edges) if (Number.isFinite(e)) scale = Math.max(scale, Math.abs(e));
  return 1e-5 * scale;
}

/** ROC AUC as the Mann–Whitney U statistic, with ties counted as half (sklearn.metrics.roc_auc_score). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (labels[idx[k]] === 1) {
        pos++;
        rankSum += avgRank;
      }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Mean log loss with probabilities clipped to [1e−15, 1 − 1e−15]. */
export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (scores.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(Math.max(scores[i], 1e-15), 1 - 1e-15);
    s -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return s / scores.length;
}

/** Brier score: mean squared difference between probability and outcome. */
export function brier(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (scores.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < scores.length; i++) s += (scores[i] - labels[i]) ** 2;
  return s / scores.length;
}

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export function confusion(predicted: ArrayLike<number>, labels: ArrayLike<number>): Confusion {
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let i = 0; i < predicted.length; i++) {
    if (predicted[i]) {
      if (labels[i]) c.tp++;
      else c.fp++;
    } else if (labels[i]) c.fn++;
    else c.tn++;
  }
  return c;
}

/** Precision, recall and F1 of the positive class; NaN where the denominator is zero (sklearn warns there). */
export function classification(c: Confusion): { precision: number; recall: number; f1: number } {
  const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : NaN;
  const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : NaN;
  const f1 = 2 * c.tp + c.fp + c.fn ? (2 * c.tp) / (2 * c.tp + c.fp + c.fn) : NaN;
  return { precision, recall, f1 };
}

/**
 * Average precision (the area under the precision–recall curve as scikit-learn's
 * average_precision_score computes it): Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct scores, highest first.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] ? 1 : 0;
  if (positives === 0) return NaN;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  let lastRecall = 0;
  for (let k = 0; k < order.length;) {
    const s = scores[order[k]];
    while (k < order.length && scores[order[k]] === s) {
      if (labels[order[k]]) tp++;
      seen++;
      k++;
    }
    const recall = tp / positives;
    ap += (recall - lastRecall) * (tp / seen);
    lastRecall = recall;
  }
  return ap;
}

export interface CalibrationBin {
  /** Scores in (lower, upper]; the first bin also holds 0. */
  lower: number;
  upper: number;
  count: number;
  mean_score: number | null;
  positive_rate: number | null;
}

/** Reliability table over equal-width score bins (scikit-learn's calibration_curve, strategy "uniform", with empty bins kept). */
export function calibration(scores: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): CalibrationBin[] {
  const sums = new Array(bins).fill(0);
  const pos = new Array(bins).fill(0);
  const counts = new Array(bins).fill(0);
  for (let i = 0; i < scores.length; i++) {
    // Bin b holds b/bins < s ≤ (b+1)/bins, as numpy.searchsorted over the inner edges does.
    let b = 0;
    while (b < bins - 1 && scores[i] > (b + 1) / bins) b++;
    sums[b] += scores[i];
    pos[b] += labels[i] ? 1 : 0;
    counts[b]++;
  }
  return counts.map((n, b) => ({ lower: b / bins, upper: (b + 1) / bins, count: n, mean_score: n ? sums[b] / n : null, positive_rate: n ? pos[b] / n : null }));
}

export function accuracy(c: Confusion): number {
  const n = c.tp + c.fp + c.fn + c.tn;
  return n ? (c.tp + c.tn) / n : NaN;
}

/** Value of each outcome of a decision: acting on a positive (tp) or negative (fp), not acting on a positive (fn) or negative (tn). */
export interface CostMatrix {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Realised profit of a confusion matrix under a cost matrix. */
export function profit(c: Confusion, costs: CostMatrix): number {
  return c.tp * costs.tp + c.fp * costs.fp + c.fn * costs.fn + c.tn * costs.tn;
}

/** F1 from counts (0 when nothing is predicted or present), as a threshold search needs it. */
export function f1FromCounts(tp: number, fp: number, fn: number): number {
  return 2 * tp + fp + fn ? (2 * tp) / (2 * tp + fp + fn) : 0;
}

/** The q-quantile of a sample with linear interpolation between order statistics (numpy's default "linear" method). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface DecileRow {
  decile: number;
  rows: number;
  mean_predicted: number;
  mean_actual: number;
}

export interface RegressionMetrics {
  rows: number;
  mae: number;
  rmse: number;
  r2: number;
  /** Mean absolute percentage error over the rows whose target is not 0 (as a fraction: 0.12 = 12 %). */
  mape: number;
  /** Rows left out of MAPE because their target is 0. */
  mape_zero_targets: number;
  /** Quantiles of actual − predicted. */
  residual_quantiles: { p05: number; p25: number; p50: number; p75: number; p95: number };
  /** Rows sorted by prediction in ten groups (numpy.array_split sizes: the first groups take the remainder). */
  deciles: DecileRow[];
}

/** MAE, RMSE, R² (scikit-learn's r2_score), MAPE without zero targets, residual quantiles and a predicted-vs-actual decile table. */
export function regressionMetrics(predicted: ArrayLike<number>, actual: ArrayLike<number>): RegressionMetrics {
  const n = predicted.length;
  let abs = 0;
  let sq = 0;
  let mean = 0;
  let ape = 0;
  let apeRows = 0;
  const residuals = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = actual[i] - predicted[i];
    residuals[i] = r;
    abs += Math.abs(r);
    sq += r * r;
    mean += actual[i];
    if (actual[i] !== 0) {
      ape += Math.abs(r) / Math.abs(actual[i]);
      apeRows++;
    }
  }
  mean /= n;
  let total = 0;
  for (let i = 0; i < n; i++) total += (actual[i] - mean) ** 2;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => predicted[a] - predicted[b] || a - b);
  const deciles: DecileRow[] = [];
  const groups = Math.min(10, n);
  let start = 0;
  for (let d = 0; d < groups; d++) {
    const size = Math.floor(n / groups) + (d < n % groups ? 1 : 0);
    let p = 0;
    let a = 0;
    for (let k = start; k < start + size; k++) {
      p += predicted[order[k]];
      a += actual[order[k]];
    }
    deciles.push({ decile: d + 1, rows: size, mean_predicted: p / size, mean_actual: a / size });
    start += size;
  }
  return {
    rows: n,
    mae: n ? abs / n : NaN,
    rmse: n ? Math.sqrt(sq / n) : NaN,
    // scikit-learn: 1 − SS_res/SS_tot; a constant target gives NaN here (sklearn returns 0 or 1 by convention).
    r2: n && total > 0 ? 1 - sq / total : NaN,
    mape: apeRows ? ape / apeRows : NaN,
    mape_zero_targets: n - apeRows,
    residual_quantiles: { p05: quantile(residuals, 0.05), p25: quantile(residuals, 0.25), p50: quantile(residuals, 0.5), p75: quantile(residuals, 0.75), p95: quantile(residuals, 0.95) },
    deciles,
  };
}

export interface ClassMetrics {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose real class is this one. */
  support: number;
}

export interface MulticlassMetrics {
  rows: number;
  accuracy: number;
  macro_f1: number;
  weighted_f1: number;
  /** Over rows whose real class is one the model knows; NaN without probabilities. */
  log_loss: number;
  /** Rows whose real class the model does not have (always wrong; left out of log loss). */
  unknown_class_rows: number;
  per_class: ClassMetrics[];
  /** matrix[i][j]: rows of real class classes[i] predicted as classes[j]. */
  confusion: { classes: string[]; matrix: number[][] };
}

/**
 * Accuracy, macro and support-weighted F1, per-class precision and recall (0 where undefined,
 * as scikit-learn's zero_division default reports), log loss with probabilities clipped to
 * [1e−15, 1 − 1e−15] (scikit-learn's log_loss also rescales each row to sum to 1; a model's
 * probabilities already do, to float32), and the confusion matrix. `classes`: the model's classes in probability
 * order; real or predicted classes it lacks are appended to the per-class rows and the matrix.
 */
export function multiclassMetrics(predicted: readonly string[], actual: readonly string[], classes: readonly string[], probabilities?: readonly (readonly number[])[]): MulticlassMetrics {
  const n = predicted.length;
  const labels = [...classes];
  const index = new Map(labels.map((c, i) => [c, i]));
  for (const y of [...actual, ...predicted]) {
    if (!index.has(y)) {
      index.set(y, labels.length);
      labels.push(y);
    }
  }
  const k = labels.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let loss = 0;
  let lossRows = 0;
  let unknown = 0;
  for (let i = 0; i < n; i++) {
    const yi = index.get(actual[i])!;
    const pi = index.get(predicted[i])!;
    matrix[yi][pi]++;
    if (yi === pi) correct++;
    if (yi >= classes.length) unknown++;
    else if (probabilities) {
      loss -= Math.log(Math.min(Math.max(probabilities[i][yi], 1e-15), 1 - 1e-15));
      lossRows++;
    }
  }
  const perClass = labels.map((c, j) => {
    let predictedAs = 0;
    for (let i = 0; i < k; i++) predictedAs += matrix[i][j];
    const support = matrix[j].reduce((a, b) => a + b, 0);
    const tp = matrix[j][j];
    const precision = predictedAs ? tp / predictedAs : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { class: c, precision, recall, f1, support, seen: support + predictedAs > 0 };
  });
  // Macro F1 over the classes present in the real or predicted labels, as scikit-learn's default labels are.
  const seen = perClass.filter((c) => c.seen);
  return {
    rows: n,
    accuracy: n ? correct / n : NaN,
    macro_f1: seen.length ? seen.reduce((a, c) => a + c.f1, 0) / seen.length : NaN,
    weighted_f1: n ? perClass.reduce((a, c) => a + c.f1 * c.support, 0) / n : NaN,
    log_loss: lossRows ? loss / lossRows : NaN,
    unknown_class_rows: unknown,
    per_class: perClass.map(({ seen: _seen, ...c }) => c),
    confusion: { classes: labels, matrix },
  };
}
