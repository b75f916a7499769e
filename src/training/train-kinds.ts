import { randomUUID } from 'node:crypto';
import { compilePolicy, defaultPolicy, type Policy } from '../inference/index.js';
import { buildReference, multiclassMetrics, regressionMetrics } from '../monitoring/index.js';
import type { ReferenceProfile } from '../registry/index.js';
import { referenceColumns, type Dataset } from './dataset.js';
import { exportMultinomial, exportRidge } from './export-logreg.js';
import { encodeRow, encodingWidth, fitGbdt, type GbdtParams, type RegressionLoss } from './gbdt.js';
import { choleskySolve } from './logreg.js';
import { designMatrix, fitPreprocessor, transformRow, type Preprocessor } from './preprocess.js';
import { exportTrees, predictClassProbabilities, predictValue, softmax, type TreeEnsemble } from './trees.js';
import type { Algorithm, Split } from './train.js';
import { heldOutCautions } from './held-out-cautions.js';
import { sketchRows, type RowSketch } from './row-sketch.js';

/**
 * Training for regression and multiclass targets: gradient-boosted trees (squared, absolute or
 * Huber loss; softmax cross-entropy with one tree per class per round), ridge regression and
 * multinomial logistic regression, each exported as an ONNX graph that serves the trainer's
 * own values, measured on the held-out rows and profiled for monitoring.
 */
export interface KindTrainInput {
  data: Dataset;
  algo: Algorithm;
  split: Split;
  gbdt?: Partial<GbdtParams>;
  loss?: RegressionLoss;
  l2?: number;
  policy?: Policy;
  onProgress?: (p: { round: number; of: number; trainLoss: number; validationLoss?: number }) => void;
}

/** What a trained model says of one row: its score and, for multiclass, class and probabilities. */
interface RowPrediction {
  score: number;
  label?: string;
  probabilities?: number[];
}

export interface KindTrained {
  onnx: Uint8Array;
  policy: Policy;
  metrics: Record<string, number>;
  reference: ReferenceProfile;
  /** Held-out predictions in test-row order, for checking the exported graph against. */
  test: RowPrediction[];
  /** Why the held-out figures may say little (too few rows, one prediction for every row). */
  cautions: string[];
  run: {
    run_id: string;
    algorithm: Algorithm;
    task: 'regression' | 'multiclass';
    params: Record<string, unknown>;
    rows: { train: number; test: number };
    duration_ms: number;
    rounds?: number;
    classes?: string[];
    /** A sample of the training rows, so evaluate can tell data that holds them (row-sketch.ts). */
    rows_sketch: RowSketch;
  };
}

/** Ridge regression: (XᵀX + λI) w = Xᵀy on the standardised design matrix, the intercept not penalised (scikit-learn's Ridge with alpha = λ). */
export function fitRidge(X: Float64Array[], y: ArrayLike<number>, l2: number): { weights: Float64Array; intercept: number } {
  const d = X[0]?.length ?? 0;
  const p = d + 1;
  const A = Array.from({ length: p }, () => new Float64Array(p));
  const b = new Float64Array(p);
  for (let i = 0; i < X.length; i++) {
    const x = X[i];
    for (let j = 0; j < d; j++) {
      const xj = x[j];
      if (xj === 0) continue;
      for (let k = 0; k <= j; k++) A[j][k] += xj * x[k];
      A[d][j] += xj;
      b[j] += xj * y[i];
    }
    A[d][d] += 1;
    b[d] += y[i];
  }
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) A[k][j] = A[j][k];
  for (let j = 0; j < d; j++) A[j][j] += l2;
  // A one-hot column that never fires in training is all zeros: a whisker keeps A positive definite.
  for (let j = 0; j < p; j++) A[j][j] += 1e-10;
  const beta = choleskySolve(A, b);
  return { weights: beta.slice(0, d), intercept: beta[d] };
}

/**
 * Multinomial logistic regression by Newton's method on all K classes' weights (the full
 * softmax parameterisation, L2 on the weights, not the intercepts; scikit-learn's
 * LogisticRegression(multi_class="multinomial", C = 1/λ)). The Hessian has (K·(d+1))² entries,
 * so this is for a modest number of classes × columns.
 */
export function fitMultinomial(
  X: Float64Array[],
  y: Uint16Array,
  K: number,
  l2: number,
  onIteration?: (it: number, loss: number) => void,
): { coef: Float64Array; intercepts: Float64Array; iterations: number } {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const p = d + 1;
  const P = K * p;
  if (P > 2500)
    throw new Error(`multinomial logistic regression over ${K} classes × ${d} encoded columns is ${P} parameters, more than its Newton solver takes (2,500); use --algo gbdt or fewer columns`);
  const beta = new Float64Array(P); // class k: weights k*p .. k*p+d-1, intercept k*p+d
  const probs = new Float64Array(K);
  const scores = (x: Float64Array, b: Float64Array) => {
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      let z = b[k * p + d];
      for (let j = 0; j < d; j++) z += b[k * p + j] * x[j];
      probs[k] = z;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += probs[k] = Math.exp(probs[k] - max);
    for (let k = 0; k < K; k++) probs[k] /= sum;
  };
  const lossAt = (b: Float64Array) => {
    let l = 0;
    for (let i = 0; i < n; i++) {
      scores(X[i], b);
      l -= Math.log(Math.max(probs[y[i]], 1e-300));
    }
    for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) l += (l2 / 2) * b[k * p + j] ** 2;
    return l;
  };
  let loss = lossAt(beta);
  let iterations = 0;
  for (let it = 1; it <= 100; it++) {
    iterations = it;
    const grad = new Float64Array(P);
    const H = Array.from({ length: P }, () => new Float64Array(P));
    const xa = new Float64Array(p);
    for (let i = 0; i < n; i++) {
      const x = X[i];
      xa.set(x);
      xa[d] = 1;
      scores(x, beta);
      for (let k = 0; k < K; k++) {
        const r = probs[k] - (y[i] === k ? 1 : 0);
        for (let j = 0; j < p; j++) grad[k * p + j] += r * xa[j];
        for (let l = 0; l <= k; l++) {
          const w = probs[k] * ((k === l ? 1 : 0) - probs[l]);
          if (w === 0) continue;
          for (let j = 0; j < p; j++) {
            const wx = w * xa[j];
            if (wx === 0) continue;
            const row = H[k * p + j];
            for (let m = 0; m < p; m++) row[l * p + m] += wx * xa[m];
          }
        }
      }
    }
    for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) H[b][a] = H[a][b];
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) {
        grad[k * p + j] += l2 * beta[k * p + j];
        H[k * p + j][k * p + j] += l2;
      }
      // The intercepts are free up to a common shift: a whisker of curvature picks one.
      H[k * p + d][k * p + d] += 1e-8;
    }
    let gnorm = 0;
    for (const v of grad) gnorm = Math.max(gnorm, Math.abs(v));
    onIteration?.(it, loss / n);
    if (gnorm < 1e-8 * Math.max(1, n)) break;
    const step = choleskySolve(H, grad);
    // Backtracking: a full Newton step, halved until the objective falls.
    let t = 1;
    let next = beta;
    let nextLoss = loss;
    for (let half = 0; half < 30; half++) {
      next = beta.map((v, q) => v - t * step[q]);
      nextLoss = lossAt(next);
      if (nextLoss <= loss) break;
      t /= 2;
    }
    const improvement = loss - nextLoss;
    beta.set(next);
    loss = nextLoss;
    if (improvement < 1e-12 * Math.max(1, Math.abs(loss))) break;
  }
  const coef = new Float64Array(K * d);
  const intercepts = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < d; j++) coef[k * d + j] = beta[k * p + j];
    intercepts[k] = beta[k * p + d];
  }
  return { coef, intercepts, iterations };
}

/** Train a regression or multiclass model, measure it on the held-out rows and profile the training rows. */
export function trainKindModel(input: KindTrainInput): KindTrained {
  const started = Date.now();
  const { train, test } = input.split;
  const task = train.task === 'multiclass' ? 'multiclass' : 'regression';
  const classes = train.classes ?? [];
  let onnx: Uint8Array;
  let predict: (d: Dataset, i: number) => RowPrediction;
  let params: Record<string, unknown>;
  let rounds: number | undefined;
  const asClass = (probabilities: number[]): RowPrediction => {
    let best = 0;
    for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
    return { score: probabilities[best], label: classes[best], probabilities };
  };
  if (input.algo === 'gbdt') {
    const p = { ...(input.gbdt ?? {}), ...(input.loss ? { loss: input.loss } : {}) };
    const target = task === 'multiclass' ? { kind: 'multiclass' as const, y: train.classIndex!, classes: classes.length } : { kind: 'regression' as const, y: train.target! };
    const m = fitGbdt(train, p, (r) => input.onProgress?.({ round: r.round, of: p.rounds ?? 200, trainLoss: r.trainLoss, validationLoss: r.validationLoss }), target, input.split.trainOrder);
    const ens: TreeEnsemble = { features: m.encoding.numeric, categorical: m.encoding.categorical, base: m.base, trees: m.trees, task, ...(task === 'multiclass' ? { classes, bases: m.bases } : {}) };
    onnx = exportTrees(ens, `modelgate_gbdt_${task}`);
    const x = new Float64Array(encodingWidth(m.encoding));
    predict = task === 'multiclass' ? (d, i) => asClass(predictClassProbabilities(ens, encodeRow(m.encoding, d, i, x))) : (d, i) => ({ score: predictValue(ens, encodeRow(m.encoding, d, i, x)) });
    params = { ...p, loss: task === 'multiclass' ? 'softmax' : (p.loss ?? 'squared_error'), ...(m.validationSlice === 'latest' ? { validation_slice: 'latest' } : {}) };
    rounds = m.rounds;
  } else {
    const pre: Preprocessor = fitPreprocessor(train);
    const l2 = input.l2 ?? 1;
    const X = designMatrix(pre, train);
    const x = new Float64Array(pre.width);
    if (task === 'regression') {
      const r = fitRidge(X, train.target!, l2);
      onnx = exportRidge(pre, r.weights, r.intercept);
      predict = (d, i) => {
        transformRow(pre, d, i, x);
        let z = r.intercept;
        for (let j = 0; j < x.length; j++) z += r.weights[j] * x[j];
        return { score: z };
      };
    } else {
      const K = classes.length;
      const m = fitMultinomial(X, train.classIndex!, K, l2, (it, loss) => input.onProgress?.({ round: it, of: 50, trainLoss: loss }));
      onnx = exportMultinomial(pre, m.coef, m.intercepts, classes);
      predict = (d, i) => {
        transformRow(pre, d, i, x);
        const z = Array.from({ length: K }, (_, k) => {
          let s = m.intercepts[k];
          for (let j = 0; j < x.length; j++) s += m.coef[k * x.length + j] * x[j];
          return s;
        });
        return asClass(softmax(z));
      };
      rounds = m.iterations;
    }
    params = { l2 };
  }
  const policy = input.policy ?? defaultPolicy(task);
  const decide = compilePolicy(policy);
  const testPred = Array.from({ length: test.rows }, (_, i) => predict(test, i));
  let metrics: Record<string, number>;
  if (task === 'regression') {
    const m = regressionMetrics(
      testPred.map((r) => r.score),
      test.target!,
    );
    metrics = { mae: m.mae, rmse: m.rmse, r2: m.r2, mape: m.mape };
  } else {
    const m = multiclassMetrics(
      testPred.map((r) => r.label!),
      Array.from(test.classIndex!, (k) => classes[k]),
      classes,
      testPred.map((r) => r.probabilities!),
    );
    metrics = { accuracy: m.accuracy, macro_f1: m.macro_f1, weighted_f1: m.weighted_f1, log_loss: m.log_loss };
  }
  for (const [k, v] of Object.entries(metrics)) if (!Number.isFinite(v)) delete metrics[k];
  const trainPred = Array.from({ length: train.rows }, (_, i) => predict(train, i));
  const reference = buildReference({
    features: referenceColumns(train),
    scores: trainPred.map((r) => r.score),
    decisions: trainPred.map((r) => decide(r)),
    policy,
    metrics,
    ...(task === 'multiclass' ? { classes: { labels: classes, predicted: trainPred.map((r) => r.label!) } } : {}),
  });
  return {
    onnx,
    policy,
    metrics,
    reference,
    test: testPred,
    cautions: heldOutCautions({
      task,
      predictions: testPred.map((r) => (task === 'multiclass' ? r.label! : r.score)),
      algo: input.algo,
      trainRows: train.rows,
      thresholdChosenHere: false,
    }),
    run: {
      run_id: randomUUID(),
      algorithm: input.algo,
      task,
      params,
      rows: { train: train.rows, test: test.rows },
      duration_ms: Date.now() - started,
      ...(rounds !== undefined ? { rounds } : {}),
      ...(task === 'multiclass' ? { classes } : {}),
      rows_sketch: sketchRows(train),
    },
  };
}
