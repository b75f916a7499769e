import { describe, expect, it } from 'vitest';
import { Doorkeeper, rowHash } from './doorkeeper.js';
import type { Row } from './encoder.js';

const row = (i: number): Row => [i, `city-${i % 7}`, i * 0.5, i % 2 === 0];

describe('doorkeeper', () => {
  it('knows a row from its second offer on, per version', () => {
    const d = new Doorkeeper(1000);
    expect(d.offer('"m"@1', row(1))).toBe(false);
    expect(d.offer('"m"@1', row(1))).toBe(true);
    expect(d.offer('"m"@1', row(1))).toBe(true);
    expect(d.offer('"m"@2', row(1))).toBe(false);
    expect(d.offer('"m"@1', row(2))).toBe(false);
  });

  it('tells values of different types apart and treats every NaN and ±0 alike, as the cache key does', () => {
    const h = (r: Row) => rowHash('p', r);
    expect(new Set([h([1]), h(['1']), h([true]), h([1n]), h(['true'])]).size).toBe(5);
    expect(h([NaN])).toBe(h([Number('x')]));
    expect(h([0])).toBe(h([-0]));
    expect(h(['ab', 'c'])).not.toBe(h(['a', 'bc']));
    // A difference only in a double's high bits (its exponent) still changes the hash.
    expect(h([1])).not.toBe(h([2]));
  });

  it('admits few distinct rows by mistake: under 3 % over a full window', () => {
    const window = 10_000;
    const d = new Doorkeeper(window);
    let falsePositives = 0;
    for (let i = 0; i < window; i++) if (d.offer('"m"@1', [i * 1.37, `id-${i}`])) falsePositives++;
    // Bloom filter with 8 bits and 2 probes per row: about 1.5 % on average over the window.
    expect(falsePositives / window).toBeLessThan(0.03);
  });

  it('keeps a row offered once a window, and forgets one left out for two windows', () => {
    const d = new Doorkeeper(100);
    const kept: Row = ['kept'];
    const dropped: Row = ['dropped'];
    d.offer('p', kept);
    d.offer('p', dropped);
    for (let w = 0; w < 5; w++) {
      for (let i = 0; i < 99; i++) d.offer('p', [w, i]);
      expect(d.offer('p', kept)).toBe(true);
    }
    expect(d.offer('p', dropped)).toBe(false);
  });
});
