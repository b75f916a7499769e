import { describe, expect, it } from 'vitest';
import { buildReference, MAX_CATEGORIES, MAX_MORE_CATEGORIES, MAX_MORE_CHARS } from './profile.js';

const reference = (values: string[]) =>
  buildReference({
    features: [{ name: 'f', kind: 'categorical', values }],
    scores: values.map(() => 0.5),
    decisions: values.map(() => 'none'),
    policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' },
  }).features.f;

describe("a reference profile's categories", () => {
  it('names the 30 most frequent with counts, and the rarer ones (most frequent first) in more', () => {
    // c0 seen 100 times, c1 99, … c59 41: distinct counts give one order.
    const values = Array.from({ length: 60 }, (_, i) => Array<string>(100 - i).fill(`c${i}`)).flat();
    const p = reference(values);
    if (p.type !== 'categorical') throw new Error('categorical expected');
    expect(p.categories).toEqual(Array.from({ length: MAX_CATEGORIES }, (_, i) => `c${i}`));
    expect(p.more).toEqual(Array.from({ length: 60 - MAX_CATEGORIES }, (_, i) => `c${i + MAX_CATEGORIES}`));
    // The rarer ones still count as other, as before more existed.
    expect(p.other).toBe(Array.from({ length: 30 }, (_, i) => 100 - 30 - i).reduce((a, b) => a + b, 0));
  });

  it('keeps more within 1,000 categories and 32,000 characters a feature', () => {
    const many = [...Array<string>(40).fill('top'), ...Array.from({ length: 3000 }, (_, i) => `v${i}`)];
    const p = reference(many);
    if (p.type !== 'categorical') throw new Error('categorical expected');
    expect(p.more).toHaveLength(MAX_MORE_CATEGORIES);
    // Long texts: as many as fit in the characters allowed.
    const long = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(3, '0')}${'x'.repeat(997)}`);
    const q = reference([...Array.from({ length: 30 }, (_, i) => Array<string>(5).fill(`k${i}`)).flat(), ...long]);
    if (q.type !== 'categorical') throw new Error('categorical expected');
    expect(q.more).toHaveLength(MAX_MORE_CHARS / 1000);
    expect(q.more!.join('').length).toBeLessThanOrEqual(MAX_MORE_CHARS);
  });

  it('has no more when every category is named', () => {
    const p = reference(['a', 'b', 'a']);
    expect(p).not.toHaveProperty('more');
  });
});
