/**
 * Statistics written out again, plainly, for tests to check the real ones against: slow,
 * obvious implementations that share no code with src/monitoring/statistics.ts.
 */

/** ROC AUC as the share of (positive, negative) pairs ordered correctly, ties counted half: O(n²). */
export function aucByPairs(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let good = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++)
    for (let j = 0; j < scores.length; j++)
      if (labels[i] === 1 && labels[j] === 0) {
        pairs++;
        good += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
  return good / pairs;
}

/** Average precision as the mean, over the positives, of the precision among the rows scoring at least as high as each: O(n²). */
export function averagePrecisionByRanks(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    positives++;
    let above = 0;
    let hits = 0;
    for (let j = 0; j < scores.length; j++)
      if (scores[j] >= scores[i]) {
        above++;
        hits += labels[j] === 1 ? 1 : 0;
      }
    sum += hits / above;
  }
  return sum / positives;
}

/** PSI of values against reference bin counts (upper bounds `edges`), shares floored at 1e-4. */
export function psiByHand(edges: number[], refCounts: number[], values: number[]): number {
  const bins = new Array(edges.length + 1).fill(0);
  for (const v of values) {
    let b = 0;
    while (b < edges.length && v > edges[b]) b++;
    bins[b]++;
  }
  const ta = refCounts.reduce((a, b) => a + b, 0);
  let s = 0;
  for (let i = 0; i < bins.length; i++) {
    const p = Math.max(refCounts[i] / ta, 1e-4);
    const q = Math.max(bins[i] / values.length, 1e-4);
    s += (q - p) * Math.log(q / p);
  }
  return s;
}
