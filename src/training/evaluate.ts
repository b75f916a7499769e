/** Holdout evaluation for a binary classifier's scores; the metrics themselves live in monitoring. */
export { rocAuc, logLoss, brier } from '../monitoring/index.js';

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
