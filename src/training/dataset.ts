import { createHash } from 'node:crypto';

/**
 * A columnar training table: numeric columns (NaN = missing), categorical columns, and the
 * target: a 0/1 label (binary, the default), a value (regression) or a class index into
 * `classes` (multiclass).
 */
export interface Dataset {
  numeric: Record<string, Float64Array>;
  categorical: Record<string, string[]>;
  /** Binary: the 0/1 label (all 0 for other tasks). */
  label: Uint8Array;
  rows: number;
  task?: 'binary' | 'regression' | 'multiclass';
  /** Regression: the value to predict. */
  target?: Float64Array;
  /** Multiclass: each row's class, an index into `classes`. */
  classIndex?: Uint16Array;
  classes?: string[];
}

/** The data set's columns as a reference profile takes them (buildReference's `features`). */
export function referenceColumns(d: Dataset): { name: string; kind: 'numeric' | 'categorical'; values: ArrayLike<unknown> }[] {
  return [
    ...Object.entries(d.numeric).map(([name, values]) => ({ name, kind: 'numeric' as const, values })),
    ...Object.entries(d.categorical).map(([name, values]) => ({ name, kind: 'categorical' as const, values })),
  ];
}

/** Row i as a feature payload, the shape /v1/infer takes (NaN becomes null). */
export function rowPayload(d: Dataset, i: number): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (const [k, col] of Object.entries(d.numeric)) out[k] = Number.isNaN(col[i]) ? null : col[i];
  for (const [k, col] of Object.entries(d.categorical)) out[k] = col[i];
  return out;
}

/**
 * For each row, the index of the first row identical to it in every column and the target (its
 * own index when none before it is). The splits count held-out rows with a copy in training by
 * it, and keep copies together on request: a held-out row whose exact copy was trained on partly
 * measures memory — the hotel bookings file repeats 33 % of its rows (group bookings), so 40 % of
 * an index split's held-out rows had a copy in training.
 */
export function firstCopies(d: Dataset): Int32Array {
  const columns: ArrayLike<number | string>[] = [...Object.values(d.numeric), ...Object.values(d.categorical), d.label];
  if (d.target) columns.push(d.target);
  if (d.classIndex) columns.push(d.classIndex);
  const first = new Int32Array(d.rows);
  const seen = new Map<string, number>();
  const cells: (number | string)[] = new Array(columns.length);
  for (let i = 0; i < d.rows; i++) {
    for (let j = 0; j < columns.length; j++) cells[j] = columns[j][i];
    // JSON keeps "1" and 1, NaN (null) and a category "null" apart; its digest keeps millions of rows' keys small.
    const key = createHash('sha1').update(JSON.stringify(cells)).digest('base64');
    const at = seen.get(key);
    if (at === undefined) seen.set(key, i);
    first[i] = at ?? i;
  }
  return first;
}

/** Train and test parts of a table: the rows `isTest` picks are the test part. */
export function splitBy(d: Dataset, isTest: (i: number) => boolean): { train: Dataset; test: Dataset } {
  const pick = (keep: (i: number) => boolean): Dataset => {
    const idx: number[] = [];
    for (let i = 0; i < d.rows; i++) if (keep(i)) idx.push(i);
    return {
      rows: idx.length,
      label: Uint8Array.from(idx, (i) => d.label[i]),
      ...(d.task ? { task: d.task } : {}),
      ...(d.target ? { target: Float64Array.from(idx, (i) => d.target![i]) } : {}),
      ...(d.classIndex ? { classIndex: Uint16Array.from(idx, (i) => d.classIndex![i]), classes: d.classes } : {}),
      numeric: Object.fromEntries(Object.entries(d.numeric).map(([k, c]) => [k, Float64Array.from(idx, (i) => c[i])])),
      categorical: Object.fromEntries(Object.entries(d.categorical).map(([k, c]) => [k, idx.map((i) => c[i])])),
    };
  };
  return { train: pick((i) => !isTest(i)), test: pick(isTest) };
}

/** Split by row index: row i is held out when i % every === 0 (deterministic, like the reference AUCs). */
export function splitEvery(d: Dataset, every: number): { train: Dataset; test: Dataset } {
  return splitBy(d, (i) => i % every === 0);
}
