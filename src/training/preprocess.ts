import type { Dataset } from './dataset.js';

export interface NumericStep {
  name: string;
  /** Fills missing values (scikit-learn SimpleImputer(strategy="median")). */
  median: number;
  mean: number;
  /** Population standard deviation after imputation; 1 when the column is constant. */
  scale: number;
}

export interface CategoricalStep {
  name: string;
  /** One-hot columns in this order; an unseen category encodes as all zeros. */
  categories: string[];
}

export interface Preprocessor {
  numeric: NumericStep[];
  categorical: CategoricalStep[];
  /** Width of the design matrix. */
  width: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median imputation and standardisation for numbers, one-hot for categories (sorted, like scikit-learn). */
export function fitPreprocessor(d: Dataset): Preprocessor {
  const numeric = Object.entries(d.numeric).map(([name, col]): NumericStep => {
    const present = Array.from(col).filter((v) => !Number.isNaN(v));
    const med = median(present);
    let sum = 0;
    for (const v of col) sum += Number.isNaN(v) ? med : v;
    const mean = sum / col.length;
    let sq = 0;
    for (const v of col) sq += ((Number.isNaN(v) ? med : v) - mean) ** 2;
    const sd = Math.sqrt(sq / col.length);
    return { name, median: med, mean, scale: sd > 0 ? sd : 1 };
  });
  const categorical = Object.entries(d.categorical).map(([name, col]) => ({ name, categories: [...new Set(col)].sort() }));
  return { numeric, categorical, width: numeric.length + categorical.reduce((s, c) => s + c.categories.length, 0) };
}

/** Design matrix row for row i (float64; the exported graph does the same in float32). */
export function transformRow(p: Preprocessor, d: Dataset, i: number, out = new Float64Array(p.width)): Float64Array {
  let j = 0;
  for (const s of p.numeric) {
    const v = d.numeric[s.name][i];
    out[j++] = ((Number.isNaN(v) ? s.median : v) - s.mean) / s.scale;
  }
  for (const s of p.categorical) {
    const v = d.categorical[s.name][i];
    for (const c of s.categories) out[j++] = v === c ? 1 : 0;
  }
  return out;
}

export function designMatrix(p: Preprocessor, d: Dataset): Float64Array[] {
  return Array.from({ length: d.rows }, (_, i) => transformRow(p, d, i));
}
