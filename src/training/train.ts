import { randomUUID } from 'node:crypto';
import { compilePolicy, type Policy } from '../inference/index.js';
import { actionDecisions, averagePrecision, profit, type OutcomeCosts, brier, buildReference, classification, confusion, logLoss, rocAuc } from '../monitoring/index.js';
import type { ReferenceProfile } from '../registry/index.js';
import { firstCopies, referenceColumns, splitBy, type Dataset } from './dataset.js';
import { seededRandom } from './random.js';
import { exportLogisticRegression } from './export-logreg.js';
import { encodeRow, fitGbdt, type GbdtParams } from './gbdt.js';
import { fitLogisticRegression, predictProba } from './logreg.js';
import { designMatrix, fitPreprocessor, transformRow } from './preprocess.js';
import { exportTrees, predictTrees } from './trees.js';
import { heldOutCautions } from './held-out-cautions.js';
import { chooseThreshold, chosenPolicy, crossFitted } from './threshold.js';
import { sketchRows, type RowSketch } from './row-sketch.js';

export type Algorithm = 'gbdt' | 'logreg';

/** Value of each outcome when acting on a score (tp, fp) or not (fn, tn); e.g. tp=0,fp=-20,fn=-100,tn=0. */
export type Costs = OutcomeCosts;

export interface Split {
  train: Dataset;
  test: Dataset;
  /** Rows that repeat an earlier row exactly (every column used, the target too). */
  copies?: number;
  /** Held-out rows with an exact copy among the training rows (none when copies are kept together). */
  heldOutWithCopy?: number;
  /** Each row went to the side of the first row it copies (`--group-copies`). */
  groupCopies?: boolean;
  /** A time split: the held-out rows are those at or after `from` in `column` (ms since 1970 for times). */
  time?: { column: string; kind: 'time' | 'number'; from: number; trainedUpTo: number; last: number };
  /** A time split's order value of each training row, in training-row order: GBDT stops early on the latest of them. */
  trainOrder?: Float64Array;
}

export interface SplitOptions {
  /**
   * Keep a row and its exact copies on one side: right when copies are one event recorded more
   * than once (group bookings, a row sent twice), wrong when they are distinct events that look
   * alike (a few categorical columns), whose held-out share would then lack whole kinds of row.
   */
  groupCopies?: boolean;
}

/** The split `isTest` draws (by first rows, when copies are kept together), with how many held-out rows have a copy in training. */
export function splitCounting(d: Dataset, first: Int32Array, isTest: (i: number) => boolean, groupCopies: boolean): Split {
  const side = new Uint8Array(d.rows);
  const trained = new Uint8Array(d.rows);
  let copies = 0;
  for (let i = 0; i < d.rows; i++) {
    side[i] = isTest(groupCopies ? first[i] : i) ? 1 : 0;
    if (first[i] !== i) copies++;
    if (!side[i]) trained[first[i]] = 1;
  }
  let heldOutWithCopy = 0;
  for (let i = 0; i < d.rows; i++) if (side[i] && trained[first[i]]) heldOutWithCopy++;
  return { ...splitBy(d, (i) => side[i] === 1), copies, heldOutWithCopy, groupCopies };
}

/** Row i is held out when i % (1/f) == 0: reproducible by any tool that drops the same unlabelled rows; with groupCopies, a copy goes where the row it repeats went. */
export function indexSplit(d: Dataset, testFraction: number, o: SplitOptions = {}): Split {
  const every = Math.max(2, Math.round(1 / testFraction));
  return splitCounting(d, firstCopies(d), (i) => i % every === 0, o.groupCopies === true);
}

/**
 * A seeded split that keeps the positive rate of both parts equal (stratified); with
 * groupCopies, each set of copies is drawn as one (a table without copies draws alike either way).
 */
export function randomSplit(d: Dataset, testFraction: number, seed: number, o: SplitOptions = {}): Split {
  const rand = seededRandom(seed);
  const groupCopies = o.groupCopies === true;
  const first = firstCopies(d);
  const size = new Int32Array(d.rows);
  for (let i = 0; i < d.rows; i++) size[groupCopies ? first[i] : i]++;
  const test = new Uint8Array(d.rows);
  for (const cls of [0, 1]) {
    // One entry per row, or per set of copies (its first row; the label is part of what makes rows copies).
    const idx = Array.from({ length: d.rows }, (_, i) => i).filter((i) => d.label[i] === cls && (!groupCopies || first[i] === i));
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    let rows = 0;
    for (let i = 0; i < d.rows; i++) if (d.label[i] === cls) rows++;
    const wanted = Math.round(rows * testFraction);
    for (let k = 0, held = 0; k < idx.length && held < wanted; k++) {
      test[idx[k]] = 1;
      held += size[idx[k]];
    }
  }
  return splitCounting(d, first, (i) => test[i] === 1, groupCopies);
}

export interface TrainInput {
  data: Dataset;
  algo: Algorithm;
  split: Split;
  costs?: Costs;
  /** A bands policy to use instead of choosing a threshold. */
  bands?: Policy;
  gbdt?: Partial<GbdtParams>;
  l2?: number;
  onProgress?: (p: { round: number; of: number; trainLoss: number; validationLoss?: number }) => void;
}

export interface Trained {
  onnx: Uint8Array;
  policy: Policy;
  metrics: Record<string, number>;
  reference: ReferenceProfile;
  /** Held-out scores, in test-row order (checks of the exported graph use them). */
  testScores: Float64Array;
  /** Why the held-out figures may say little (too few rows of a class, one score for every row). */
  cautions: string[];
  run: {
    run_id: string;
    algorithm: Algorithm;
    params: Record<string, unknown>;
    rows: { train: number; test: number };
    duration_ms: number;
    rounds?: number;
    /** A sample of the training rows, so evaluate can tell data that holds them (row-sketch.ts). */
    rows_sketch: RowSketch;
  };
}

/** Train, choose the policy on the held-out rows, measure, and profile the training data. */
export function trainModel(input: TrainInput): Trained {
  const started = Date.now();
  const { train, test } = input.split;
  let onnx: Uint8Array;
  let score: (d: Dataset, i: number) => number;
  let params: Record<string, unknown>;
  let rounds: number | undefined;
  if (input.algo === 'gbdt') {
    const p = input.gbdt ?? {};
    const m = fitGbdt(train, p, (r) => input.onProgress?.({ round: r.round, of: p.rounds ?? 200, trainLoss: r.trainLoss, validationLoss: r.validationLoss }), undefined, input.split.trainOrder);
    const ens = { features: m.encoding.numeric, categorical: m.encoding.categorical, base: m.base, trees: m.trees };
    onnx = exportTrees(ens);
    const x = new Float64Array(m.encoding.numeric.length + m.encoding.categorical.reduce((s, c) => s + c.categories.length, 0));
    score = (d, i) => predictTrees(ens, encodeRow(m.encoding, d, i, x));
    params = { ...p, ...(m.validationSlice === 'latest' ? { validation_slice: 'latest' } : {}) };
    rounds = m.rounds;
  } else {
    const pre = fitPreprocessor(train);
    const l2 = input.l2 ?? 1;
    const model = fitLogisticRegression(designMatrix(pre, train), train.label, {
      l2,
      onIteration: (it, loss) => input.onProgress?.({ round: it, of: 50, trainLoss: loss / train.rows }),
    });
    if (!model.converged) throw new Error(`logistic regression did not converge in ${model.iterations} Newton steps; raise --l2`);
    onnx = exportLogisticRegression(pre, model);
    const x = new Float64Array(pre.width);
    score = (d, i) => predictProba(model, transformRow(pre, d, i, x));
    params = { l2 };
    rounds = model.iterations;
  }
  const testScores = Float64Array.from({ length: test.rows }, (_, i) => score(test, i));
  const choice = chooseThreshold(testScores, test.label, input.costs);
  const chosen = chosenPolicy(choice, input.costs, { scores: testScores, labels: test.label });
  const policy: Policy = input.bands ?? chosen.policy;
  const decide = compilePolicy(policy);
  const acting = new Set(actionDecisions(policy));
  const acted = Array.from(testScores, (s) => (acting.has(decide({ score: s })) ? 1 : 0));
  const conf = confusion(acted, test.label);
  const c = input.costs;
  // A threshold chosen on these rows is measured on the half that did not choose it (threshold.ts).
  const fitted = input.bands ? undefined : crossFitted(testScores, test.label, c);
  const cls = fitted ?? classification(conf);
  const metrics: Record<string, number> = {
    roc_auc: rocAuc(testScores, test.label),
    // What a rare positive class is judged by (evaluate prints it too): precision over recall.
    pr_auc: averagePrecision(testScores, test.label),
    log_loss: logLoss(testScores, test.label),
    brier: brier(testScores, test.label),
    f1: cls.f1,
    precision: cls.precision,
    recall: cls.recall,
    positive_rate: test.label.reduce((s, v) => s + v, 0) / test.rows,
    action_rate: acted.reduce<number>((s, v) => s + v, 0) / test.rows,
    ...(c ? { expected_profit_per_row: fitted?.profit_per_row ?? profit(conf, c) / test.rows } : {}),
  };
  for (const [k, v] of Object.entries(metrics)) if (!Number.isFinite(v)) delete metrics[k];
  const trainScores = Float64Array.from({ length: train.rows }, (_, i) => score(train, i));
  const reference = buildReference({
    features: referenceColumns(train),
    scores: trainScores,
    decisions: Array.from(trainScores, (score) => decide({ score })),
    policy,
    labels: train.label,
    metrics,
  });
  return {
    onnx,
    policy,
    metrics,
    reference,
    testScores,
    cautions: [
      ...heldOutCautions({ task: 'binary', labels: test.label, predictions: testScores, algo: input.algo, trainRows: train.rows, thresholdChosenHere: !input.bands }),
      ...(!input.bands && chosen.caution ? [chosen.caution] : []),
    ],
    run: {
      run_id: randomUUID(),
      algorithm: input.algo,
      params: { ...params, ...(input.bands ? { policy: 'bands' } : { threshold_objective: choice.objective, threshold_metrics: 'cross_fitted' }), ...(c ? { cost_matrix: c } : {}) },
      rows: { train: train.rows, test: test.rows },
      duration_ms: Date.now() - started,
      ...(rounds !== undefined ? { rounds } : {}),
      rows_sketch: sketchRows(train),
    },
  };
}
