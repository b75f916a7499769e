import { describe, expect, it } from 'vitest';
import { axisWidth, unitRange } from '../ui/src/components/chart-range.js';

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

describe('the console charts’ y-axis width', () => {
  // 7 px a character, as 12 px digits measure near enough.
  const measure = (t: string) => 7 * t.length;
  it('fits the longest tick label with the tick and its gap, so a PSI of 0.00225 is not cut to .00225', () => {
    expect(axisWidth(['0.0015', '0.00175', '0.002', '0.00225'], measure, 15)).toBe(7 * 7 + 15 + 4);
    expect(axisWidth(['12%', '100%'], measure, 15)).toBe(4 * 7 + 15 + 4);
    expect(axisWidth(['0%', '5%'], measure, 15)).toBe(40);
    // Before uPlot knows the labels, and on an empty axis: the least width.
    expect(axisWidth(null, measure, 15)).toBe(40);
    expect(axisWidth([], measure, 15, 30)).toBe(30);
    expect(axisWidth(['0.123456789'], (t) => 6.3 * t.length, 10)).toBe(Math.ceil(6.3 * 11 + 14));
  });
});
