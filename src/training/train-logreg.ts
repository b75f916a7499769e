import { randomUUID } from 'node:crypto';
import type { Dataset } from './dataset.js';
import { referenceColumns, splitEvery } from './dataset.js';
import { actionDecisions, averagePrecision, buildReference } from '../monitoring/index.js';
import type { ReferenceProfile } from '../registry/index.js';
import { compilePolicy, type Policy } from '../inference/index.js';
import { brier, logLoss, rocAuc, type CostMatrix } from './evaluate.js';
import { exportLogisticRegression } from './export-logreg.js';
import { fitLogisticRegression, predictProba, type LogRegModel } from './logreg.js';
import { designMatrix, fitPreprocessor, transformRow, type Preprocessor } from './preprocess.js';
import { chooseThreshold, chosenPolicy, crossFitted } from './threshold.js';

export interface TrainOptions {
  l2?: number;
  /** Hold out row i when i % holdoutEvery === 0. */
  holdoutEvery?: number;
  cost?: CostMatrix;
  onProgress?: (message: string) => void;
}

export interface TrainResult {
  onnx: Uint8Array;
  preprocessor: Preprocessor;
  model: LogRegModel;
  /**
   * Held-out figures. F1, precision, recall and expected profit are cross-fitted (threshold.ts):
   * each half of the held-out rows decided at the threshold chosen on the other half, so the rows
   * that chose the threshold do not also grade it.
   */
  metrics: {
    roc_auc: number;
    pr_auc: number;
    log_loss: number;
    brier: number;
    f1: number;
    precision: number;
    recall: number;
    positive_rate: number;
    action_rate: number;
    expected_profit_per_row: number;
  };
  /** The threshold that maximises profit on all the held-out rows (midway between two scores). */
  threshold: number;
  policy: Policy;
  run: { run_id: string; algorithm: 'logreg'; params: Record<string, unknown>; rows: { train: number; test: number }; iterations: number; converged: boolean; duration_ms: number };
  /** Drift reference: the training rows' distributions and the model's scores on them. */
  reference: ReferenceProfile;
  /** In-memory holdout predictions, for checking the exported graph. */
  holdout: { data: Dataset; scores: Float64Array };
}

export function trainLogisticRegression(data: Dataset, opts: TrainOptions = {}): TrainResult {
  const started = Date.now();
  const l2 = opts.l2 ?? 1;
  const cost = opts.cost ?? { truePositive: 30, falsePositive: -20 };
  const { train, test } = splitEvery(data, opts.holdoutEvery ?? 4);
  const pre = fitPreprocessor(train);
  opts.onProgress?.(`training logistic regression on ${train.rows} rows, ${pre.width} encoded features (holdout ${test.rows})`);
  const model = fitLogisticRegression(designMatrix(pre, train), train.label, {
    l2,
    onIteration: (it, loss, g) => opts.onProgress?.(`  newton step ${it}: loss ${(loss / train.rows).toFixed(6)}, |grad| ${g.toExponential(2)}`),
  });
  if (!model.converged) throw new Error(`logistic regression did not converge in ${model.iterations} Newton steps; raise --l2`);
  const scores = new Float64Array(test.rows);
  const x = new Float64Array(pre.width);
  for (let i = 0; i < test.rows; i++) scores[i] = predictProba(model, transformRow(pre, test, i, x));
  const costs = { tp: cost.truePositive, fp: cost.falsePositive, fn: 0, tn: 0 };
  const { policy } = chosenPolicy(chooseThreshold(scores, test.label, costs), costs);
  const decide = compilePolicy(policy);
  const acting = new Set(actionDecisions(policy));
  const fitted = crossFitted(scores, test.label, costs);
  const metrics = {
    roc_auc: rocAuc(scores, test.label),
    pr_auc: averagePrecision(scores, test.label),
    log_loss: logLoss(scores, test.label),
    brier: brier(scores, test.label),
    f1: fitted.f1,
    precision: fitted.precision,
    recall: fitted.recall,
    positive_rate: test.label.reduce((s, v) => s + v, 0) / test.rows,
    action_rate: scores.reduce((n, score) => n + (acting.has(decide({ score })) ? 1 : 0), 0) / test.rows,
    expected_profit_per_row: fitted.profit_per_row!,
  };
  const trainScores = new Float64Array(train.rows);
  for (let i = 0; i < train.rows; i++) trainScores[i] = predictProba(model, transformRow(pre, train, i, x));
  const reference = buildReference({
    features: referenceColumns(train),
    scores: trainScores,
    decisions: Array.from(trainScores, (score) => decide({ score })),
    policy,
    labels: train.label,
    metrics,
  });
  return {
    onnx: exportLogisticRegression(pre, model),
    reference,
    preprocessor: pre,
    model,
    metrics,
    threshold: policy.threshold,
    policy,
    run: {
      run_id: randomUUID(),
      algorithm: 'logreg',
      params: { l2, holdout_every: opts.holdoutEvery ?? 4, cost_matrix: cost, threshold_objective: 'profit', threshold_metrics: 'cross_fitted' },
      rows: { train: train.rows, test: test.rows },
      iterations: model.iterations,
      converged: model.converged,
      duration_ms: Date.now() - started,
    },
    holdout: { data: test, scores },
  };
}
