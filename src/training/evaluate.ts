/** Holdout evaluation for a binary classifier's scores; the metrics themselves live in monitoring. */
export { rocAuc, logLoss, brier } from '../monitoring/index.js';

export interface CostMatrix {
  /** Value of acting on a positive (e.g. a cancellation caught early). */
  truePositive: number;
  /** Cost of acting on a negative (e.g. a good guest asked for a deposit), as a negative number. */
  falsePositive: number;
}
