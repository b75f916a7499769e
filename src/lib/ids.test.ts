import { describe, expect, it } from 'vitest';
import { predictionId } from './ids.js';

describe('predictionId', () => {
  it('is a UUIDv7 whose first 48 bits are the time in ms, unique, and sorts by time', async () => {
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, () => predictionId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    await new Promise((r) => setTimeout(r, 3));
    const later = predictionId();
    expect(ids.every((id) => id < later)).toBe(true);
  });
});
