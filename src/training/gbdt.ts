import type { Dataset } from './dataset.js';
import { seededRandom } from './random.js';
import type { TreeNode } from './trees.js';

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

export type RegressionLoss = 'squared_error' | 'absolute_error' | 'huber';

/**
 * What is learned: a 0/1 label (log loss), a value (a regression loss), or a class index in
 * 0..classes-1 (softmax cross-entropy).
 */
export type GbdtTarget = { kind: 'binary'; y: Uint8Array } | { kind: 'regression'; y: Float64Array } | { kind: 'multiclass'; y: Uint16Array; classes: number };

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
export interface GbdtEncoding {
  numeric: string[];
  categorical: { name: string; categories: string[] }[];
}

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

/** Bin edges of one feature: the largest value of each bin, compared in float32 as the exported graph compares. */
function binEdges(values: Float64Array, maxBins: number): Float32Array {
  const v = Float32Array.from(values.filter((x) => !Number.isNaN(x))).sort();
  const distinct: number[] = [];
  for (let i = 0; i < v.length; i++) if (i === 0 || v[i] !== v[i - 1]) distinct.push(v[i]);
  if (distinct.length <= maxBins) return Float32Array.from(distinct);
  const edges: number[] = [];
  for (let b = 1; b <= maxBins; b++) {
    const e = v[Math.min(v.length - 1, Math.ceil((b * v.length) / maxBins) - 1)];
    if (!edges.length || e > edges[edges.length - 1]) edges.push(e);
  }
  if (edges[edges.length - 1] < v[v.length - 1]) edges[edges.length - 1] = v[v.length - 1];
  return Float32Array.from(edges);
}

interface Binned {
  codes: Uint8Array[];
  edges: Float32Array[];
  /** Code of the missing bin per feature (= number of value bins). */
  missing: number[];
}

function binColumns(cols: Float64Array[], edges: Float32Array[]): Uint8Array[] {
  return cols.map((col, j) => {
    const e = edges[j];
    const out = new Uint8Array(col.length);
    for (let i = 0; i < col.length; i++) {
      const x = col[i];
      if (Number.isNaN(x)) {
        out[i] = e.length;
        continue;
      }
      const f = Math.fround(x);
      let lo = 0;
      let hi = e.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (f <= e[mid]) hi = mid;
        else lo = mid + 1;
      }
      out[i] = lo;
    }
    return out;
  });
}

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
  left: { g: number; h: number; n: number };
  right: { g: number; h: number; n: number };
}

interface Leaf {
  node: number;
  rows: Uint32Array;
  g: number;
  h: number;
  depth: number;
  hist: Float64Array[] | undefined;
  split: Split | undefined;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The q-quantile of some values (sorted copy, lower of the two middle ones: a median that is a data value). */
function quantileOf(values: Float64Array, q: number): number {
  if (values.length === 0) return 0;
  const v = Float64Array.from(values).sort();
  return v[Math.min(v.length - 1, Math.max(0, Math.floor(q * (v.length - 1) + 0.5)))];
}

export interface GbdtProgress {
  round: number;
  trainLoss: number;
  validationLoss: number | undefined;
}

/**
 * Train on `d`; `onRound` is told each round's losses (for a progress bar). `target` is what
 * to learn; default the dataset's 0/1 label.
 */
export function fitGbdt(d: Dataset, params: Partial<GbdtParams> = {}, onRound?: (p: GbdtProgress) => void, target: GbdtTarget = { kind: 'binary', y: d.label }): GbdtModel {
  const p = { ...DEFAULT_GBDT, ...params };
  const encoding = chooseEncoding(d, p.maxCategories);
  const width = encodingWidth(encoding);
  // Column-major encoded features.
  // Numeric columns are binned; a categorical column is kept as one code per row (its kept
  // category's index, or K for any other), from which all of its one-hot columns' histograms
  // come in a single pass over the rows.
  const numCount = encoding.numeric.length;
  const cols = encoding.numeric.map((n) => d.numeric[n]);
  const catCodes = encoding.categorical.map((c) => {
    const index = new Map(c.categories.map((v, k) => [v, k]));
    const col = d.categorical[c.name];
    return Uint16Array.from({ length: d.rows }, (_, i) => index.get(col[i]) ?? c.categories.length);
  });
  const catStart = new Int32Array(encoding.categorical.length);
  const featCat = new Int32Array(width).fill(-1);
  const featK = new Int32Array(width);
  {
    let j = numCount;
    encoding.categorical.forEach((c, ci) => {
      catStart[ci] = j;
      c.categories.forEach((_v, k) => {
        featCat[j] = ci;
        featK[j++] = k;
      });
    });
  }
  // A seeded random validation slice (roughly validationFraction of the rows, not stratified).
  const rand = seededRandom(p.seed);
  const isVal = new Uint8Array(d.rows);
  if (p.validationFraction > 0) for (let i = 0; i < d.rows; i++) isVal[i] = rand() < p.validationFraction ? 1 : 0;
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  for (let i = 0; i < d.rows; i++) (isVal[i] ? valIdx : trainIdx).push(i);

  const oneHotEdges = Float32Array.from([0, 1]);
  const edges = [
    ...cols.map((c) =>
      binEdges(
        Float64Array.from(trainIdx, (i) => c[i]),
        p.maxBins,
      ),
    ),
    ...Array.from({ length: width - numCount }, () => oneHotEdges),
  ];
  const binned: Binned = { codes: binColumns(cols, edges.slice(0, numCount)), edges, missing: edges.map((e) => e.length) };
  const nBins = edges.map((e) => e.length + 1);
  /** Bin of row i in feature j (one-hot columns: 1 when the row has that category). */
  const code = (j: number, i: number): number => (j < numCount ? binned.codes[j][i] : catCodes[featCat[j]][i] === featK[j] ? 1 : 0);

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

  const histogram = (rows: Uint32Array): Float64Array[] => {
    // The node's gradients gathered once into contiguous arrays: the per-feature loops then
    // read them in order and only the bin codes at random.
    const n = rows.length;
    const gn = new Float64Array(n);
    const hn = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const i = rows[r];
      gn[r] = g[i];
      hn[r] = h[i];
    }
    // Interleaved [g, h, n] per bin.
    const out: Float64Array[] = binned.codes.map((codes, j) => {
      const hist = new Float64Array(nBins[j] * 3);
      for (let r = 0; r < n; r++) {
        const b = codes[rows[r]] * 3;
        hist[b] += gn[r];
        hist[b + 1] += hn[r];
        hist[b + 2]++;
      }
      return hist;
    });
    // A categorical column's histogram is its per-category sums ([g, h, n] per kept category,
    // then the rest): each one-hot column's two bins follow from it and the node's totals.
    encoding.categorical.forEach((c, ci) => {
      const codes = catCodes[ci];
      const sums = new Float64Array((c.categories.length + 1) * 3);
      for (let r = 0; r < n; r++) {
        const b = codes[rows[r]] * 3;
        sums[b] += gn[r];
        sums[b + 1] += hn[r];
        sums[b + 2]++;
      }
      out.push(sums);
    });
    return out;
  };

  const bestSplit = (leaf: Leaf): Split | undefined => {
    const { g: G, h: H } = leaf;
    const n = leaf.rows.length;
    const parent = (G * G) / (H + p.l2);
    let best: Split | undefined;
    const consider = (gain: number, feature: number, bin: number, missingLeft: boolean, lg: number, lh: number, ln: number) => {
      if (gain > 1e-9 && (!best || gain > best.gain)) best = { gain, feature, bin, missingLeft, left: { g: lg, h: lh, n: ln }, right: { g: G - lg, h: H - lh, n: n - ln } };
    };
    for (let j = 0; j < numCount; j++) {
      const hist = leaf.hist![j];
      const m = binned.missing[j] * 3;
      const mg = hist[m];
      const mh = hist[m + 1];
      const mn = hist[m + 2];
      let gl = 0;
      let hl = 0;
      let nl = 0;
      for (let b = 0; b < binned.missing[j] - 1; b++) {
        gl += hist[b * 3];
        hl += hist[b * 3 + 1];
        nl += hist[b * 3 + 2];
        for (let side = 0; side < (mn > 0 ? 2 : 1); side++) {
          const missingLeft = side === 1;
          const lg = gl + (missingLeft ? mg : 0);
          const lh = hl + (missingLeft ? mh : 0);
          const ln = nl + (missingLeft ? mn : 0);
          const rn = n - ln;
          if (ln < p.minSamplesLeaf || rn < p.minSamplesLeaf) continue;
          const rg = G - lg;
          const rh = H - lh;
          if (lh < 1e-3 || rh < 1e-3) continue;
          consider((lg * lg) / (lh + p.l2) + (rg * rg) / (rh + p.l2) - parent, j, b, missingLeft, lg, lh, ln);
        }
      }
    }
    // One-hot columns: the category goes right (value 1), everything else left.
    for (let ci = 0; ci < catCodes.length; ci++) {
      const sums = leaf.hist![numCount + ci];
      const K = encoding.categorical[ci].categories.length;
      for (let k = 0; k < K; k++) {
        const rg = sums[k * 3];
        const rh = sums[k * 3 + 1];
        const rn = sums[k * 3 + 2];
        const ln = n - rn;
        if (ln < p.minSamplesLeaf || rn < p.minSamplesLeaf) continue;
        const lg = G - rg;
        const lh = H - rh;
        if (lh < 1e-3 || rh < 1e-3) continue;
        consider((lg * lg) / (lh + p.l2) + (rg * rg) / (rh + p.l2) - parent, catStart[ci] + k, 0, false, lg, lh, ln);
      }
    }
    return best as Split | undefined;
  };

  /** Grow one tree best-first from the current g and h over the training rows; its nodes, and its leaves with their rows. */
  const grow = (): { nodes: TreeNode[]; leaves: Leaf[] } => {
    const nodes: TreeNode[] = [{ leaf: true, value: 0 }];
    const rootRows = Uint32Array.from(trainIdx);
    let G = 0;
    let H = 0;
    for (const i of trainIdx) {
      G += g[i];
      H += h[i];
    }
    const root: Leaf = { node: 0, rows: rootRows, g: G, h: H, depth: 0, hist: histogram(rootRows), split: undefined };
    root.split = bestSplit(root);
    const open: Leaf[] = [root];
    const done: Leaf[] = [];
    while (open.length && open.length + done.length < p.maxLeaves) {
      // Best-first: split the open leaf with the largest gain.
      let k = -1;
      for (let i = 0; i < open.length; i++) if (open[i].split && (k < 0 || open[i].split!.gain > open[k].split!.gain)) k = i;
      if (k < 0) break;
      const leaf = open.splice(k, 1)[0];
      const s = leaf.split!;
      const miss = binned.missing[s.feature];
      const left = new Uint32Array(s.left.n);
      const right = new Uint32Array(s.right.n);
      let li = 0;
      let ri = 0;
      const rowsOf = leaf.rows;
      if (s.feature < numCount) {
        const codes = binned.codes[s.feature];
        for (let r = 0; r < rowsOf.length; r++) {
          const i = rowsOf[r];
          const c = codes[i];
          if (c === miss ? s.missingLeft : c <= s.bin) left[li++] = i;
          else right[ri++] = i;
        }
      } else {
        // One-hot column: value 1 (the category) is above the split at bin 0.
        const codes = catCodes[featCat[s.feature]];
        const k = featK[s.feature];
        for (let r = 0; r < rowsOf.length; r++) {
          const i = rowsOf[r];
          if (codes[i] === k) right[ri++] = i;
          else left[li++] = i;
        }
      }
      const l = nodes.length;
      nodes.push({ leaf: true, value: 0 }, { leaf: true, value: 0 });
      nodes[leaf.node] = { leaf: false, feature: s.feature, threshold: binned.edges[s.feature][s.bin], left: l, right: l + 1, missingLeft: s.missingLeft };
      const depth = leaf.depth + 1;
      const small = left.length <= right.length ? left : right;
      const smallHist = histogram(small);
      const bigHist = leaf.hist!.map((ph, j) => {
        const out = new Float64Array(ph.length);
        for (let b = 0; b < ph.length; b++) out[b] = ph[b] - smallHist[j][b];
        return out;
      });
      leaf.hist = undefined;
      const children: Leaf[] = [
        { node: l, rows: left, g: s.left.g, h: s.left.h, depth, hist: small === left ? smallHist : bigHist, split: undefined },
        { node: l + 1, rows: right, g: s.right.g, h: s.right.h, depth, hist: small === left ? bigHist : smallHist, split: undefined },
      ];
      for (const c of children) {
        const canSplit = (p.maxDepth === 0 || depth < p.maxDepth) && c.rows.length >= 2 * p.minSamplesLeaf;
        c.split = canSplit ? bestSplit(c) : undefined;
        if (c.split) open.push(c);
        else {
          c.hist = undefined;
          done.push(c);
        }
      }
    }
    return { nodes, leaves: [...open, ...done] };
  };

  /** The leaf value of tree-output k: a Newton step, or for absolute error the median residual of its rows. */
  const leafValue = (leaf: Leaf, k: number): number => {
    if (target.kind === 'regression' && p.loss === 'absolute_error') {
      const residuals = Float64Array.from(leaf.rows, (i) => target.y[i] - raw[i * K + k]);
      return quantileOf(residuals, 0.5) * p.learningRate;
    }
    return (-leaf.g / (leaf.h + p.l2)) * p.learningRate;
  };

  /** A walk of one tree for row i on its bins, exactly as the thresholds compare. */
  const walk = (nodes: TreeNode[], i: number): number => {
    let k = 0;
    for (;;) {
      const nd = nodes[k];
      if (nd.leaf) return nd.value;
      const c = code(nd.feature, i);
      const miss = binned.missing[nd.feature];
      k = c === miss ? (nd.missingLeft ? nd.left : nd.right) : Math.fround(nd.threshold) >= binned.edges[nd.feature][c] ? nd.left : nd.right;
    }
  };

  const loss = lossOf(target, p.loss);
  const probs = new Float64Array(K);
  for (let round = 1; round <= p.rounds; round++) {
    const trainLoss = loss.gradients(trainIdx, raw, K, g, h, gk, hk, probs);
    const roundTrees: TreeNode[][] = [];
    for (let k = 0; k < K; k++) {
      if (K > 1) {
        g.set(gk[k]);
        h.set(hk[k]);
      }
      const { nodes, leaves } = grow();
      for (const leaf of leaves) {
        const value = leafValue(leaf, k);
        nodes[leaf.node] = { leaf: true, value };
        const rowsOf = leaf.rows;
        for (let r = 0; r < rowsOf.length; r++) raw[rowsOf[r] * K + k] += value;
      }
      roundTrees.push(nodes);
    }
    trees.push(...roundTrees);
    // Validation rows were not in any leaf: walk the new trees for them.
    let vl: number | undefined;
    if (valIdx.length) {
      for (const i of valIdx) for (let k = 0; k < K; k++) raw[i * K + k] += walk(roundTrees[k], i);
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
  };
}

/** Where boosting starts: the log-odds of the positive share, the mean (squared error) or median value, or each class's log share. */
function initialScores(target: GbdtTarget, rows: number[], loss: RegressionLoss): number[] {
  if (target.kind === 'binary') {
    let pos = 0;
    for (const i of rows) pos += target.y[i];
    const prior = Math.min(Math.max(pos / rows.length, 1e-6), 1 - 1e-6);
    return [Math.log(prior / (1 - prior))];
  }
  if (target.kind === 'regression') {
    const y = Float64Array.from(rows, (i) => target.y[i]);
    if (loss === 'squared_error') return [y.reduce((a, b) => a + b, 0) / y.length];
    return [quantileOf(y, 0.5)];
  }
  const counts = new Array<number>(target.classes).fill(0);
  for (const i of rows) counts[target.y[i]]++;
  // A class absent from the training rows starts very unlikely rather than impossible.
  return counts.map((c) => Math.log(Math.max(c / rows.length, 1e-6)));
}

interface Loss {
  /** Fill the gradients and hessians of `rows` from their raw scores; the mean loss. */
  gradients(rows: number[], raw: Float64Array, K: number, g: Float64Array, h: Float64Array, gk: Float64Array[], hk: Float64Array[], probs: Float64Array): number;
  /** The mean loss of `rows` (early stopping compares it). */
  value(rows: number[], raw: Float64Array, K: number, probs: Float64Array): number;
}

/** Softmax of row i's K raw scores into `out` (shifted by the maximum, so exp never overflows). */
function softmax(raw: Float64Array, i: number, K: number, out: Float64Array): void {
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, raw[i * K + k]);
  let sum = 0;
  for (let k = 0; k < K; k++) sum += out[k] = Math.exp(raw[i * K + k] - max);
  for (let k = 0; k < K; k++) out[k] /= sum;
}

function lossOf(target: GbdtTarget, regression: RegressionLoss): Loss {
  if (target.kind === 'binary') {
    const y = target.y;
    const one = (i: number, z: number) => {
      const pr = sigmoid(z);
      return y[i] ? -Math.log(Math.max(pr, 1e-15)) : -Math.log(Math.max(1 - pr, 1e-15));
    };
    return {
      gradients(rows, raw, _K, g, h) {
        let l = 0;
        for (const i of rows) {
          const pr = sigmoid(raw[i]);
          g[i] = pr - y[i];
          h[i] = Math.max(pr * (1 - pr), 1e-16);
          l += one(i, raw[i]);
        }
        return l / rows.length;
      },
      value(rows, raw) {
        let l = 0;
        for (const i of rows) l += one(i, raw[i]);
        return l / rows.length;
      },
    };
  }
  if (target.kind === 'multiclass') {
    const y = target.y;
    return {
      gradients(rows, raw, K, _g, _h, gk, hk, probs) {
        let l = 0;
        for (const i of rows) {
          softmax(raw, i, K, probs);
          for (let k = 0; k < K; k++) {
            const pk = probs[k];
            gk[k][i] = pk - (y[i] === k ? 1 : 0);
            hk[k][i] = Math.max(pk * (1 - pk), 1e-16);
          }
          l -= Math.log(Math.max(probs[y[i]], 1e-15));
        }
        return l / rows.length;
      },
      value(rows, raw, K, probs) {
        let l = 0;
        for (const i of rows) {
          softmax(raw, i, K, probs);
          l -= Math.log(Math.max(probs[y[i]], 1e-15));
        }
        return l / rows.length;
      },
    };
  }
  const y = target.y;
  // Huber: quadratic within delta of the target, linear beyond; delta is the 90th percentile of
  // the absolute residuals each round, as scikit-learn's GradientBoostingRegressor sets it.
  let delta = Infinity;
  const pointLoss = (r: number) => (regression === 'squared_error' ? r * r : regression === 'absolute_error' ? Math.abs(r) : Math.abs(r) <= delta ? 0.5 * r * r : delta * (Math.abs(r) - delta / 2));
  return {
    gradients(rows, raw, _K, g, h) {
      if (regression === 'huber')
        delta = quantileOf(
          Float64Array.from(rows, (i) => Math.abs(raw[i] - y[i])),
          0.9,
        );
      let l = 0;
      for (const i of rows) {
        const r = raw[i] - y[i];
        g[i] = regression === 'squared_error' ? r : regression === 'absolute_error' ? Math.sign(r) : Math.abs(r) <= delta ? r : delta * Math.sign(r);
        h[i] = 1;
        l += pointLoss(r);
      }
      return l / rows.length;
    },
    value(rows, raw) {
      let l = 0;
      for (const i of rows) l += pointLoss(raw[i] - y[i]);
      return l / rows.length;
    },
  };
}
