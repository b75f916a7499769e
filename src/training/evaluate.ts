/** Holdout metrics for a binary classifier's scores. */

/** ROC AUC as the Mann–Whitney U statistic, with ties counted as half. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]] === 1) {
      pos++;
      rankSum += avgRank;
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(Math.max(scores[i], 1e-15), 1 - 1e-15);
    s -= labels[i] ? Math.log(p) : Math.log(1 - p);
  }
  return s / scores.length;
}

export function brier(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < scores.length; i++) s += (scores[i] - labels[i]) ** 2;
  return s / scores.length;
}

export interface CostMatrix {
  /** Value of acting on a positive (e.g. a cancellation caught early). */
  truePositive: number;
  /** Cost of acting on a negative (e.g. a good guest asked for a deposit), as a negative number. */
  falsePositive: number;
}

/** The threshold in [0.01, 0.99] that maximises realised profit on held-out rows. */
export function bestThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, cost: CostMatrix): { threshold: number; profit: number; actionRate: number } {
  let best = { threshold: 0.5, profit: -Infinity, actionRate: 0 };
  for (let t = 1; t <= 99; t++) {
    const th = t / 100;
    let profit = 0;
    let acted = 0;
    for (let i = 0; i < scores.length; i++) {
      if (scores[i] >= th) {
        acted++;
        profit += labels[i] ? cost.truePositive : cost.falsePositive;
      }
    }
    if (profit > best.profit) best = { threshold: th, profit, actionRate: acted / scores.length };
  }
  return best;
}
