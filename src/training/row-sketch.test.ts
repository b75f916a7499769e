import { describe, expect, it } from 'vitest';
import type { Dataset } from './dataset.js';
import { SKETCH_KEYS, sketchRows, trainedShare } from './row-sketch.js';

/** Rows i of a table with a number (missing every seventh) and a category (missing every eleventh). */
const table = (from: number, n: number): Dataset => ({
  rows: n,
  label: new Uint8Array(n),
  numeric: { amount: Float64Array.from({ length: n }, (_, k) => ((from + k) % 7 === 0 ? NaN : (from + k) * 1.5)) },
  categorical: {
    city: Array.from({ length: n }, (_, k) => ((from + k) % 11 === 0 ? (null as unknown as string) : `c${(from + k) % 13}`)),
    // Every row distinct, also where the other two are missing.
    note: Array.from({ length: n }, (_, k) => `r${from + k}`),
  },
});
/** Row i as serving reads a CSV: null for a missing value. */
const served = (i: number) => [i % 7 === 0 ? null : i * 1.5, i % 11 === 0 ? null : `c${i % 13}`, `r${i}`];

describe('the sample of training rows kept with a run', () => {
  it('holds the smallest keys, at most SKETCH_KEYS, of the distinct rows; its columns sorted', () => {
    const s = sketchRows(table(0, 5000));
    expect(s.columns).toEqual(['amount', 'city', 'note']);
    expect([s.distinct, s.keys.length]).toEqual([5000, SKETCH_KEYS]);
    expect(s.keys).toEqual([...s.keys].sort((a, b) => a - b));
    expect(s.keys.every((k) => Number.isSafeInteger(k))).toBe(true);
  });

  it('estimates the share of new data that is training rows, read as serving reads them (null for missing, NaN in training)', () => {
    const s = sketchRows(table(0, 4000));
    // Rows 2,000 to 5,999: half of them trained on.
    const est = trainedShare(s, ['amount', 'city', 'note'], (i) => served(2000 + i), 4000)!;
    expect(Math.abs(est.share - 0.5)).toBeLessThan(0.08);
    expect(est.sampled).toBeGreaterThan(300);
    // None of them: 0.
    expect(trainedShare(s, ['amount', 'city', 'note'], (i) => served(10_000 + i), 4000)!.share).toBe(0);
  });

  it('exact when the run had fewer distinct rows than the sample holds; nothing for other columns', () => {
    const s = sketchRows(table(0, 100));
    expect(s.keys).toHaveLength(100);
    const est = trainedShare(s, ['amount', 'city', 'note'], (i) => served(50 + i), 200)!;
    expect(est).toEqual({ share: 50 / 200, sampled: 200 });
    expect(trainedShare(s, ['amount', 'city', 'town'], (i) => served(i), 10)).toBeUndefined();
  });
});
