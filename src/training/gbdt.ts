import type { Dataset } from './dataset.js';
import { binFeatures, type FeatureLayout } from './gbdt-bins.js';
import { growTree, walkBinned, type Leaf } from './gbdt-grow.js';
import { initialScores, lossOf, quantileOf, type GbdtTarget, type RegressionLoss } from './gbdt-loss.js';
import { seededRandom } from './random.js';
import type { TreeNode } from './trees.js';

export type { GbdtTarget, RegressionLoss } from './gbdt-loss.js';

/**
 * Histogram gradient boosting (the algorithm of LightGBM and scikit-learn's
 * HistGradientBoostingClassifier and -Regressor) for binary log loss, regression (squared
 * error, absolute error, Huber) and multiclass softmax cross-entropy (one tree per class per
 * round): every feature is cut into at most 255 bins
 * once, and each tree grows best-first from per-leaf gradient histograms (the larger child's
 * histogram is the parent's minus the smaller child's). Missing values have their own bin and
 * each split learns which side they go to. Categorical columns are one-hot encoded over their
 * most frequent categories (the same encoding is inside the exported graph).
 */
export interface GbdtParams {
  rounds: number;
  learningRate: number;
  maxLeaves: number;
  /** 0 = unlimited. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  maxBins: number;
  /** Categories one-hot encoded per categorical column (the rest share no column). */
  maxCategories: number;
  /** Share of the training rows held back to decide when to stop; 0 turns early stopping off. */
  validationFraction: number;
  /** Rounds without a better validation loss before stopping. */
  patience: number;
  seed: number;
  /** Regression loss; binary and multiclass targets have theirs (log loss, softmax). */
  loss: RegressionLoss;
}

export const DEFAULT_GBDT: GbdtParams = {
  rounds: 200,
  learningRate: 0.1,
  maxLeaves: 31,
  maxDepth: 0,
  minSamplesLeaf: 20,
  l2: 0,
  maxBins: 255,
  maxCategories: 32,
  validationFraction: 0.1,
  patience: 10,
  seed: 42,
  loss: 'squared_error',
};

/** The encoded feature space: numeric columns, then one binary column per kept category. */
export type GbdtEncoding = FeatureLayout;

export interface GbdtModel {
  encoding: GbdtEncoding;
  /** Raw score every prediction starts from (binary: log-odds; regression: a value). */
  base: number;
  /** Multiclass: the starting raw score of each class (log of its training share). */
  bases?: number[];
  /** Multiclass: tree t adds to class t % classes; one tree per class per round. */
  classes?: number;
  trees: TreeNode[][];
  /** Rounds kept (early stopping may keep fewer than trained). */
  rounds: number;
  validationLoss: number[];
  /** Which rows decided when to stop: the latest (by a time split's order) or a random slice. */
  validationSlice: 'latest' | 'random' | 'none';
}

export function encodingWidth(e: GbdtEncoding): number {
  return e.numeric.length + e.categorical.reduce((s, c) => s + c.categories.length, 0);
}

/** Row i of the data in the encoded feature space (NaN for missing numbers). */
export function encodeRow(e: GbdtEncoding, d: Dataset, i: number, out = new Float64Array(encodingWidth(e))): Float64Array {
  let k = 0;
  for (const n of e.numeric) out[k++] = d.numeric[n][i];
  for (const c of e.categorical) {
    const v = d.categorical[c.name][i];
    for (const cat of c.categories) out[k++] = v === cat ? 1 : 0;
  }
  return out;
}

function chooseEncoding(d: Dataset, maxCategories: number): GbdtEncoding {
  return {
    numeric: Object.keys(d.numeric),
    categorical: Object.entries(d.categorical).map(([name, col]) => {
      const freq = new Map<string, number>();
      for (const v of col) freq.set(v, (freq.get(v) ?? 0) + 1);
      const categories = [...freq]
        .filter(([, n]) => n >= 2)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, maxCategories)
        .map(([c]) => c);
      return { name, categories };
    }),
  };
}

export interface GbdtProgress {
  round: number;
  /** The training rows' mean loss with this round's trees added (as the validation loss is). */
  trainLoss: number;
  validationLoss: number | undefined;
}

/**
 * The early-stopping slice (roughly `fraction` of the rows) and the rows the trees grow on. With
 * an order (a time split's times), the latest rows, every row of the first sliced moment with
 * them: a model to be judged on later rows should stop where it did best on the latest rows it
 * has, not on a random draw from its whole period, which rewards rounds that fit patterns since
 * gone. Otherwise a seeded random slice (not stratified): also when the latest moments hold
 * more than twice the wanted share (every row one time, or most rows the last day).
 */
function holdOut(rows: number, fraction: number, seed: number, order?: ArrayLike<number>): { trainIdx: number[]; valIdx: number[]; slice: 'latest' | 'random' } {
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  if (order && fraction > 0 && rows > 1) {
    const sorted = Float64Array.from(order).sort();
    const wanted = Math.max(1, Math.round(rows * fraction));
    const from = sorted[rows - wanted];
    // Rows at or after `from`: more than wanted when the cut falls inside a moment many rows share.
    const sliced = rows - sorted.indexOf(from);
    // At most twice the wanted share: latest moments holding most rows would leave the trees too
    // few to grow on.
    if (from > sorted[0] && sliced <= 2 * wanted) {
      for (let i = 0; i < rows; i++) (order[i] >= from ? valIdx : trainIdx).push(i);
      return { trainIdx, valIdx, slice: 'latest' };
    }
  }
  const rand = seededRandom(seed);
  for (let i = 0; i < rows; i++) (fraction > 0 && rand() < fraction ? valIdx : trainIdx).push(i);
  return { trainIdx, valIdx, slice: 'random' };
}

/** The value of a leaf for output k: a Newton step, or for absolute error the median residual of its rows. */
function leafValue(leaf: Leaf, k: number, K: number, raw: Float64Array, target: GbdtTarget, p: GbdtParams): number {
  if (target.kind === 'regression' && p.loss === 'absolute_error') {
    const y = target.y;
    const residuals = Float64Array.from(leaf.rows, (i) => y[i] - raw[i * K + k]);
    return quantileOf(residuals, 0.5) * p.learningRate;
  }
  return (-leaf.g / (leaf.h + p.l2)) * p.learningRate;
}

/**
 * Train on `d`; `onRound` is told each round's losses (for a progress bar). `target` is what
 * to learn; default the dataset's 0/1 label.
 */
export function fitGbdt(d: Dataset, params: Partial<GbdtParams> = {}, onRound?: (p: GbdtProgress) => void, target: GbdtTarget = { kind: 'binary', y: d.label }, order?: ArrayLike<number>): GbdtModel {
  const p = { ...DEFAULT_GBDT, ...params };
  const encoding = chooseEncoding(d, p.maxCategories);
  const { trainIdx, valIdx, slice } = holdOut(d.rows, p.validationFraction, p.seed, order);
  const features = binFeatures(d, encoding, trainIdx, p.maxBins);

  // One raw score per row and output (K outputs for multiclass, else one), row-major.
  const K = target.kind === 'multiclass' ? target.classes : 1;
  const bases = initialScores(target, trainIdx, p.loss);
  const raw = new Float64Array(d.rows * K);
  for (let i = 0; i < d.rows; i++) for (let k = 0; k < K; k++) raw[i * K + k] = bases[k];
  const g = new Float64Array(d.rows);
  const h = new Float64Array(d.rows);
  /** Multiclass: every class's gradients of a round, computed once from that round's softmax. */
  const gk = K > 1 ? Array.from({ length: K }, () => new Float64Array(d.rows)) : [];
  const hk = K > 1 ? Array.from({ length: K }, () => new Float64Array(d.rows)) : [];
  const trees: TreeNode[][] = [];
  const valLoss: number[] = [];
  let best = Infinity;
  let bestRounds = 0;

  const loss = lossOf(target, p.loss);
  const probs = new Float64Array(K);
  for (let round = 1; round <= p.rounds; round++) {
    loss.gradients(trainIdx, raw, K, g, h, gk, hk, probs);
    const roundTrees: TreeNode[][] = [];
    for (let k = 0; k < K; k++) {
      if (K > 1) {
        g.set(gk[k]);
        h.set(hk[k]);
      }
      const { nodes, leaves } = growTree(features, trainIdx, g, h, p);
      for (const leaf of leaves) {
        const value = leafValue(leaf, k, K, raw, target, p);
        nodes[leaf.node] = { leaf: true, value };
        const rowsOf = leaf.rows;
        for (let r = 0; r < rowsOf.length; r++) raw[rowsOf[r] * K + k] += value;
      }
      roundTrees.push(nodes);
    }
    trees.push(...roundTrees);
    // After the round's trees, like the validation loss beside it in the progress line.
    const trainLoss = loss.value(trainIdx, raw, K, probs);
    // Validation rows were not in any leaf: walk the new trees for them.
    let vl: number | undefined;
    if (valIdx.length) {
      for (const i of valIdx) for (let k = 0; k < K; k++) raw[i * K + k] += walkBinned(features, roundTrees[k], i);
      vl = loss.value(valIdx, raw, K, probs);
      valLoss.push(vl);
      if (vl < best - 1e-7) {
        best = vl;
        bestRounds = round;
      }
    } else bestRounds = round;
    onRound?.({ round, trainLoss, validationLoss: vl });
    if (valIdx.length && round - bestRounds >= p.patience) break;
  }
  return {
    encoding,
    base: bases[0],
    ...(K > 1 ? { bases, classes: K } : {}),
    trees: trees.slice(0, bestRounds * K),
    rounds: bestRounds,
    validationLoss: valLoss,
    validationSlice: valIdx.length ? slice : 'none',
  };
}
