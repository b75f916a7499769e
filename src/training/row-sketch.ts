import { createHash } from 'node:crypto';
import type { Dataset } from './dataset.js';

/**
 * A sample of a version's training rows that later data can be checked against: metrics on rows
 * a version was trained on flatter it, and a file that merely contains its training file (the
 * same export, a month longer) has another sha256. The sample is the K smallest of the rows'
 * 52-bit keys (a bottom-k sketch), a few kilobytes in the run record whatever the row count.
 */
export interface RowSketch {
  /** The features the keys are made of, sorted by name. */
  columns: string[];
  /** Distinct training rows (keys) in all, of which `keys` are the smallest. */
  distinct: number;
  /** The K smallest keys, ascending; all of them when there are K or fewer. */
  keys: number[];
}

/** Keys kept: with half the rows of new data in training, the share is estimated within about ±3 points. */
export const SKETCH_KEYS = 512;

/** Numbers as numbers, a missing value (NaN, null, undefined) as null, text as text: alike for the trainer's columns and a CSV read as serving reads it. */
const normal = (v: unknown) => (typeof v === 'number' ? (Number.isFinite(v) ? v : null) : v === undefined ? null : v);

/** A row's key: its feature values in column order, hashed to an integer below 2^52 (exact in a double). */
export function rowKey(values: readonly unknown[]): number {
  return parseInt(
    createHash('sha1')
      .update(JSON.stringify(values.map(normal)))
      .digest('hex')
      .slice(0, 13),
    16,
  );
}

/** The sketch of a training split's rows: its feature columns (not the target), sorted by name. */
export function sketchRows(d: Dataset): RowSketch {
  const columns = [...Object.keys(d.numeric), ...Object.keys(d.categorical)].sort();
  const data = columns.map((c) => (d.numeric[c] ?? d.categorical[c]) as ArrayLike<unknown>);
  // A typed array sorted in place: 8 bytes a row, where a Set of a million keys took about 40 MB.
  const all = new Float64Array(d.rows);
  const cells: unknown[] = new Array(columns.length);
  for (let i = 0; i < d.rows; i++) {
    for (let j = 0; j < columns.length; j++) cells[j] = data[j][i];
    all[i] = rowKey(cells);
  }
  all.sort();
  const keys: number[] = [];
  let distinct = 0;
  for (let i = 0; i < all.length; i++) {
    if (i > 0 && all[i] === all[i - 1]) continue;
    distinct++;
    if (keys.length < SKETCH_KEYS) keys.push(all[i]!);
  }
  return { columns, distinct, keys };
}

/**
 * The share of `rows` (each row's values in `columns` order, the sketch's) that are training
 * rows, estimated from the sketch: among the rows whose key falls at or below the sketch's
 * largest — a uniform sample of them — the share whose key the sketch holds. Exact when the
 * sketch holds every training row. Undefined when no row falls in the sample's range, or the
 * sketch is of other columns.
 */
export function trainedShare(sketch: RowSketch, columns: readonly string[], rows: (i: number) => unknown[], count: number): { share: number; sampled: number } | undefined {
  if (sketch.columns.length !== columns.length || sketch.columns.some((c, j) => c !== columns[j])) return undefined;
  const held = new Set(sketch.keys);
  const limit = sketch.keys.length < sketch.distinct ? sketch.keys[sketch.keys.length - 1]! : Infinity;
  let sampled = 0;
  let trained = 0;
  for (let i = 0; i < count; i++) {
    const k = rowKey(rows(i));
    if (k > limit) continue;
    sampled++;
    if (held.has(k)) trained++;
  }
  return sampled ? { share: trained / sampled, sampled } : undefined;
}

/** Below this share of rows being a version's training rows, what is measured on them is not said to be flattered. */
const SAID_FROM = 0.05;

/**
 * "about 64 % of `these` are rows version 1 was trained on (…)", trainedShare's estimate in
 * words, when it is SAID_FROM or more; undefined for less.
 */
export function describeTrainedShare(t: { share: number; sampled: number }, these: string, version: number): string | undefined {
  if (t.share < SAID_FROM) return undefined;
  return `about ${Math.round(t.share * 100)} % of ${these} are rows version ${version} was trained on (estimated on ${t.sampled.toLocaleString('en')} of them, against a sample of its training rows kept with its run)`;
}
