import { binOf, type BinnedFeatures } from './gbdt-bins.js';
import type { TreeNode } from './trees.js';

/** What limits a tree's growth. */
export interface GrowLimits {
  maxLeaves: number;
  /** 0 = unlimited. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
}

interface Side {
  g: number;
  h: number;
  n: number;
}

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
  left: Side;
  right: Side;
}

/** A leaf of the tree being grown: its rows, their gradient sums, and its best split once known. */
export interface Leaf {
  node: number;
  rows: Uint32Array;
  g: number;
  h: number;
  depth: number;
  hist: Float64Array[] | undefined;
  split: Split | undefined;
}

/**
 * Gradient histograms of some rows: per numeric feature interleaved [g, h, n] per bin, then per
 * categorical column its per-category sums ([g, h, n] per kept category, then the rest), from
 * which each one-hot column's two bins follow with the node's totals.
 */
function histogram(f: BinnedFeatures, rows: Uint32Array, g: Float64Array, h: Float64Array): Float64Array[] {
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
  const sum = (codes: Uint8Array | Uint16Array, bins: number): Float64Array => {
    const hist = new Float64Array(bins * 3);
    for (let r = 0; r < n; r++) {
      const b = codes[rows[r]] * 3;
      hist[b] += gn[r];
      hist[b + 1] += hn[r];
      hist[b + 2]++;
    }
    return hist;
  };
  return [...f.codes.map((codes, j) => sum(codes, f.nBins[j])), ...f.catCodes.map((codes, ci) => sum(codes, f.catSizes[ci] + 1))];
}

/** The split of `leaf` with the largest gain that leaves both sides at least minSamplesLeaf rows; none when no split gains. */
function bestSplit(f: BinnedFeatures, leaf: Leaf, p: GrowLimits): Split | undefined {
  const { g: G, h: H } = leaf;
  const n = leaf.rows.length;
  const parent = (G * G) / (H + p.l2);
  let best: Split | undefined;
  const consider = (gain: number, feature: number, bin: number, missingLeft: boolean, lg: number, lh: number, ln: number) => {
    if (gain > 1e-9 && (!best || gain > best.gain)) best = { gain, feature, bin, missingLeft, left: { g: lg, h: lh, n: ln }, right: { g: G - lg, h: H - lh, n: n - ln } };
  };
  for (let j = 0; j < f.numCount; j++) {
    const hist = leaf.hist![j];
    const m = f.missing[j] * 3;
    const mg = hist[m];
    const mh = hist[m + 1];
    const mn = hist[m + 2];
    let gl = 0;
    let hl = 0;
    let nl = 0;
    for (let b = 0; b < f.missing[j] - 1; b++) {
      gl += hist[b * 3];
      hl += hist[b * 3 + 1];
      nl += hist[b * 3 + 2];
      // Missing values try both sides when there are any.
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
  for (let ci = 0; ci < f.catCodes.length; ci++) {
    const sums = leaf.hist![f.numCount + ci];
    for (let k = 0; k < f.catSizes[ci]; k++) {
      const rg = sums[k * 3];
      const rh = sums[k * 3 + 1];
      const rn = sums[k * 3 + 2];
      const ln = n - rn;
      if (ln < p.minSamplesLeaf || rn < p.minSamplesLeaf) continue;
      const lg = G - rg;
      const lh = H - rh;
      if (lh < 1e-3 || rh < 1e-3) continue;
      consider((lg * lg) / (lh + p.l2) + (rg * rg) / (rh + p.l2) - parent, f.catStart[ci] + k, 0, false, lg, lh, ln);
    }
  }
  return best as Split | undefined;
}

/** The rows of a leaf on each side of split `s`. */
function partition(f: BinnedFeatures, rows: Uint32Array, s: Split): { left: Uint32Array; right: Uint32Array } {
  const left = new Uint32Array(s.left.n);
  const right = new Uint32Array(s.right.n);
  let li = 0;
  let ri = 0;
  if (s.feature < f.numCount) {
    const codes = f.codes[s.feature];
    const miss = f.missing[s.feature];
    for (let r = 0; r < rows.length; r++) {
      const i = rows[r];
      const c = codes[i];
      if (c === miss ? s.missingLeft : c <= s.bin) left[li++] = i;
      else right[ri++] = i;
    }
  } else {
    // One-hot column: value 1 (the category) is above the split at bin 0.
    const codes = f.catCodes[f.featCat[s.feature]];
    const k = f.featK[s.feature];
    for (let r = 0; r < rows.length; r++) {
      const i = rows[r];
      if (codes[i] === k) right[ri++] = i;
      else left[li++] = i;
    }
  }
  return { left, right };
}

/** Histograms of the two children: the smaller child's counted, the larger's the parent's minus it. */
function childHistograms(f: BinnedFeatures, parent: Float64Array[], left: Uint32Array, right: Uint32Array, g: Float64Array, h: Float64Array): [Float64Array[], Float64Array[]] {
  const leftSmaller = left.length <= right.length;
  const smallHist = histogram(f, leftSmaller ? left : right, g, h);
  const bigHist = parent.map((ph, j) => {
    const out = new Float64Array(ph.length);
    for (let b = 0; b < ph.length; b++) out[b] = ph[b] - smallHist[j][b];
    return out;
  });
  return leftSmaller ? [smallHist, bigHist] : [bigHist, smallHist];
}

/**
 * Grow one tree best-first from gradients g and hessians h over the training rows: its nodes
 * (leaf values still 0) and its leaves with their rows.
 */
export function growTree(f: BinnedFeatures, trainIdx: number[], g: Float64Array, h: Float64Array, p: GrowLimits): { nodes: TreeNode[]; leaves: Leaf[] } {
  const nodes: TreeNode[] = [{ leaf: true, value: 0 }];
  const rootRows = Uint32Array.from(trainIdx);
  let G = 0;
  let H = 0;
  for (const i of trainIdx) {
    G += g[i];
    H += h[i];
  }
  const root: Leaf = { node: 0, rows: rootRows, g: G, h: H, depth: 0, hist: histogram(f, rootRows, g, h), split: undefined };
  root.split = bestSplit(f, root, p);
  const open: Leaf[] = [root];
  const done: Leaf[] = [];
  while (open.length && open.length + done.length < p.maxLeaves) {
    // Best-first: split the open leaf with the largest gain.
    let k = -1;
    for (let i = 0; i < open.length; i++) if (open[i].split && (k < 0 || open[i].split!.gain > open[k].split!.gain)) k = i;
    if (k < 0) break;
    const leaf = open.splice(k, 1)[0];
    const s = leaf.split!;
    const { left, right } = partition(f, leaf.rows, s);
    const l = nodes.length;
    nodes.push({ leaf: true, value: 0 }, { leaf: true, value: 0 });
    nodes[leaf.node] = { leaf: false, feature: s.feature, threshold: f.edges[s.feature][s.bin], left: l, right: l + 1, missingLeft: s.missingLeft };
    const depth = leaf.depth + 1;
    const [leftHist, rightHist] = childHistograms(f, leaf.hist!, left, right, g, h);
    leaf.hist = undefined;
    const children: Leaf[] = [
      { node: l, rows: left, g: s.left.g, h: s.left.h, depth, hist: leftHist, split: undefined },
      { node: l + 1, rows: right, g: s.right.g, h: s.right.h, depth, hist: rightHist, split: undefined },
    ];
    for (const c of children) {
      const canSplit = (p.maxDepth === 0 || depth < p.maxDepth) && c.rows.length >= 2 * p.minSamplesLeaf;
      c.split = canSplit ? bestSplit(f, c, p) : undefined;
      if (c.split) open.push(c);
      else {
        c.hist = undefined;
        done.push(c);
      }
    }
  }
  return { nodes, leaves: [...open, ...done] };
}

/** A walk of one tree for row i on its bins, exactly as the exported thresholds compare. */
export function walkBinned(f: BinnedFeatures, nodes: TreeNode[], i: number): number {
  let k = 0;
  for (;;) {
    const nd = nodes[k];
    if (nd.leaf) return nd.value;
    const c = binOf(f, nd.feature, i);
    const miss = f.missing[nd.feature];
    k = c === miss ? (nd.missingLeft ? nd.left : nd.right) : Math.fround(nd.threshold) >= f.edges[nd.feature][c] ? nd.left : nd.right;
  }
}
