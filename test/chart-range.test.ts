import { describe, expect, it } from 'vitest';
import { unitRange } from '../ui/src/components/chart-range.js';

describe('the console charts’ axis for values between 0 and 1', () => {
  it('keeps a single value and a spread of values inside [0, 1], with room around them', () => {
    expect(unitRange(0.905, 0.905)).toEqual([0.885, 0.925]);
    expect(unitRange(0.99, 1)).toEqual([0.97, 1]);
    expect(unitRange(0, 0.01)).toEqual([0, 0.03]);
    const [lo, hi] = unitRange(0.5, 0.9);
    expect(lo).toBeCloseTo(0.46, 12);
    expect(hi).toBeCloseTo(0.94, 12);
  });
});
