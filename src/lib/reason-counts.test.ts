import { describe, expect, it } from 'vitest';
import { countReason, MAX_REASON_KINDS, OTHER_REASONS } from './reason-counts.js';

describe('countReason', () => {
  it('counts each reason until there are MAX_REASON_KINDS kinds, then new ones together; known ones keep counting', () => {
    const reasons: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) countReason(reasons, `city: "${i % 300}" is not a category`);
    countReason(reasons, 'city: "0" is not a category');
    countReason(reasons, 'constructor');
    expect(Object.keys(reasons)).toHaveLength(MAX_REASON_KINDS + 1);
    expect(reasons['city: "0" is not a category']).toBe(5);
    expect(reasons['city: "19" is not a category']).toBe(4);
    expect(reasons['city: "20" is not a category']).toBeUndefined();
    // 1001 + 1 counted in all: nothing lost.
    expect(Object.values(reasons).reduce((a, b) => a + b, 0)).toBe(1002);
    expect(reasons[OTHER_REASONS]).toBe(1002 - 5 - 19 * 4 + 0);
  });
});
