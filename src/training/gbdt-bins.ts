import type { Dataset } from './dataset.js';

/**
 * The training rows' features as small integer codes, which is what histogram boosting
 * works on: a numeric column's value bin (its own code for missing), and for a categorical
 * column the index of the row's kept category (or one past the last for any other), from
 * which every one of its one-hot columns follows.
 */
export interface BinnedFeatures {
  /** Encoded features 0..numCount-1 are numeric; the rest are one-hot columns. */
  numCount: number;
  /** Per numeric feature, each row's bin. */
  codes: Uint8Array[];
  /** Per encoded feature, the largest value of each bin (float32, as the exported graph compares). */
  edges: Float32Array[];
  /** Per encoded feature, the code of its missing bin (= the number of value bins). */
  missing: number[];
  /** Per encoded feature, the number of bins including the missing one. */
  nBins: number[];
  /** Per categorical column, each row's kept-category index. */
  catCodes: Uint16Array[];
  /** Per categorical column, its number of kept categories. */
  catSizes: number[];
  /** Per categorical column, the encoded feature of its first category. */
  catStart: Int32Array;
  /** Per encoded feature, its categorical column (-1 for numeric) and category index. */
  featCat: Int32Array;
  featK: Int32Array;
}

/** The encoded feature space: numeric columns, then one binary column per kept category. */
export interface FeatureLayout {
  numeric: string[];
  categorical: { name: string; categories: string[] }[];
}

/** Bin edges of one feature: the largest value of each bin, compared in float32 as the exported graph compares. */
export function binEdges(values: Float64Array, maxBins: number): Float32Array {
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

/** Bin every row of `d` in the given layout; numeric bin edges come from the training rows only. */
export function binFeatures(d: Dataset, layout: FeatureLayout, trainIdx: number[], maxBins: number): BinnedFeatures {
  const numCount = layout.numeric.length;
  const catSizes = layout.categorical.map((c) => c.categories.length);
  const width = numCount + catSizes.reduce((s, n) => s + n, 0);
  const cols = layout.numeric.map((n) => d.numeric[n]);
  const catCodes = layout.categorical.map((c) => {
    const index = new Map(c.categories.map((v, k) => [v, k]));
    const col = d.categorical[c.name];
    return Uint16Array.from({ length: d.rows }, (_, i) => index.get(col[i]) ?? c.categories.length);
  });
  const catStart = new Int32Array(layout.categorical.length);
  const featCat = new Int32Array(width).fill(-1);
  const featK = new Int32Array(width);
  let j = numCount;
  catSizes.forEach((size, ci) => {
    catStart[ci] = j;
    for (let k = 0; k < size; k++) {
      featCat[j] = ci;
      featK[j++] = k;
    }
  });
  const oneHotEdges = Float32Array.from([0, 1]);
  const edges = [
    ...cols.map((c) =>
      binEdges(
        Float64Array.from(trainIdx, (i) => c[i]),
        maxBins,
      ),
    ),
    ...Array.from({ length: width - numCount }, () => oneHotEdges),
  ];
  return {
    numCount,
    codes: binColumns(cols, edges.slice(0, numCount)),
    edges,
    missing: edges.map((e) => e.length),
    nBins: edges.map((e) => e.length + 1),
    catCodes,
    catSizes,
    catStart,
    featCat,
    featK,
  };
}

/** Bin of row i in encoded feature j (one-hot columns: 1 when the row has that category). */
export function binOf(f: BinnedFeatures, j: number, i: number): number {
  return j < f.numCount ? f.codes[j][i] : f.catCodes[f.featCat[j]][i] === f.featK[j] ? 1 : 0;
}
