import { describe, expect, it } from 'vitest';
import type { Dataset } from './dataset.js';
import { seededRandom } from './random.js';
import { indexSplit, randomSplit } from './train.js';

/** n rows of one numeric and one categorical column, row i's values given by `of(i)`. */
function table(n: number, of: (i: number) => { x: number; c: string; y: 0 | 1 }): Dataset {
  const rows = Array.from({ length: n }, (_, i) => of(i));
  return { rows: n, numeric: { x: Float64Array.from(rows, (r) => r.x) }, categorical: { c: rows.map((r) => r.c) }, label: Uint8Array.from(rows, (r) => r.y) };
}

/** Each row as text, to find a held-out row among the training rows. */
const keys = (d: Dataset) => Array.from({ length: d.rows }, (_, i) => `${d.numeric.x[i]}|${d.categorical.c[i]}|${d.label[i]}`);

describe('rows that repeat another exactly: kept together on request, counted either way', () => {
  // Group bookings: 300 distinct rows, a third of them sent 2 to 4 times, the copies scattered over the file.
  const distinct = Array.from({ length: 300 }, (_, k) => ({ x: k % 7 === 0 ? NaN : k * 1.5, c: k % 7 === 0 ? `missing-x-${k}` : `c${k % 5}`, y: (k % 3 === 0 ? 1 : 0) as 0 | 1 }));
  const order: number[] = [];
  distinct.forEach((_, k) => {
    const times = k % 3 === 1 ? 2 + (k % 4 === 1 ? 2 : 0) : 1;
    for (let t = 0; t < times; t++) order.push(k);
  });
  const rand = seededRandom(7);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const data = table(order.length, (i) => distinct[order[i]]);
  const copies = order.length - 300;

  for (const [name, split] of [
    ['index', () => indexSplit(data, 0.25, { groupCopies: true })],
    ['random', () => randomSplit(data, 0.25, 42, { groupCopies: true })],
  ] as const) {
    it(`${name} with groupCopies: no held-out row is a copy of a training row; the held-out share stays near the fraction`, () => {
      const s = split();
      expect(s.copies).toBe(copies);
      expect(s.heldOutWithCopy).toBe(0);
      expect(s.train.rows + s.test.rows).toBe(data.rows);
      const trained = new Set(keys(s.train));
      expect(keys(s.test).filter((k) => trained.has(k))).toEqual([]);
      expect(s.test.rows / data.rows).toBeGreaterThan(0.18);
      expect(s.test.rows / data.rows).toBeLessThan(0.32);
    });
  }

  it('index with groupCopies: a row is held out where the first row it copies is (i % 4 == 0 for that row)', () => {
    const s = indexSplit(data, 0.25, { groupCopies: true });
    const firstAt = new Map<number, number>();
    order.forEach((k, i) => firstAt.has(k) || firstAt.set(k, i));
    const expected = order.map((k, i) => i).filter((i) => firstAt.get(order[i])! % 4 === 0);
    expect(s.test.rows).toBe(expected.length);
    expect(Array.from(s.test.numeric.x)).toEqual(expected.map((i) => data.numeric.x[i]));
  });

  it('without groupCopies, row i is held out when i % 4 == 0, and the held-out rows with a copy in training are counted', () => {
    const s = indexSplit(data, 0.25);
    expect(s.groupCopies).toBe(false);
    expect(s.test.rows).toBe(Math.ceil(data.rows / 4));
    const trained = new Set(keys(s.train));
    const withCopy = keys(s.test).filter((k) => trained.has(k)).length;
    expect(withCopy).toBeGreaterThan(20);
    expect(s.heldOutWithCopy).toBe(withCopy);
    expect(randomSplit(data, 0.25, 42).heldOutWithCopy).toBeGreaterThan(20);
  });

  it('a table without copies splits alike with and without groupCopies: index by i % 4, random by the seeded stratified draw', () => {
    const plain = table(400, (i) => ({ x: i, c: `c${i % 3}`, y: (i % 5 === 0 ? 1 : 0) as 0 | 1 }));
    const byIndex = indexSplit(plain, 0.25, { groupCopies: true });
    expect(byIndex.copies).toBe(0);
    expect(Array.from(byIndex.test.numeric.x)).toEqual(Array.from({ length: 100 }, (_, k) => 4 * k));
    // The draw before copies were kept together: each class shuffled, its first quarter held out.
    const r = seededRandom(42);
    const held = new Set<number>();
    for (const cls of [0, 1]) {
      const idx = Array.from({ length: 400 }, (_, i) => i).filter((i) => plain.label[i] === cls);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      for (const i of idx.slice(0, Math.round(idx.length * 0.25))) held.add(i);
    }
    for (const groupCopies of [false, true]) {
      const byRandom = randomSplit(plain, 0.25, 42, { groupCopies });
      expect(byRandom.copies).toBe(0);
      expect(Array.from(byRandom.test.numeric.x)).toEqual([...held].sort((a, b) => a - b));
    }
  });

  it('rows alike but for the target are not copies', () => {
    const d = table(8, (i) => ({ x: 1, c: 'a', y: (i % 2) as 0 | 1 }));
    expect(indexSplit(d, 0.25, { groupCopies: true }).copies).toBe(6);
    expect(indexSplit(d, 0.25, { groupCopies: true }).test.rows).toBe(4);
  });
});
