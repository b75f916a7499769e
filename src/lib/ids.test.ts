import { describe, expect, it, vi } from 'vitest';
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
  it('orders the ids of one millisecond by their counter, and never goes back when the clock does', () => {
    const now = vi.spyOn(Date, 'now');
    try {
      // Ahead of the real clock, which the first test's ids have already used.
      const t = Date.now() + 1e9;
      now.mockReturnValue(t);
      const same = Array.from({ length: 20_000 }, () => predictionId());
      now.mockReturnValue(t - 5);
      const stepped = Array.from({ length: 10 }, () => predictionId());
      const ids = [...same, ...stepped];
      for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
      // The timestamp is t throughout: a clock that stepped back does not move it back.
      for (const id of ids) expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(t);
      // The counter (rand_a, then the variant nibble's low two bits and 16 bits) counts up by one.
      const counter = (id: string) => parseInt(id.slice(15, 18), 16) * 2 ** 14 + (parseInt(id[19], 16) & 3) * 2 ** 12 + parseInt(id.slice(20, 23), 16);
      expect(counter(ids[1]) - counter(ids[0])).toBe(1);
      expect(counter(ids.at(-1)!) - counter(ids[0])).toBe(ids.length - 1);
      expect(counter(ids[0])).toBeLessThan(2 ** 25);
      // The last 48 bits are random: no two alike in 20,010 ids (a collision is ~1e-6 likely).
      expect(new Set(ids.map((id) => id.slice(24))).size).toBe(ids.length);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    } finally {
      now.mockRestore();
    }
  });

  it('starts each millisecond at a random counter value', () => {
    const base = Date.now() + 2e9;
    const now = vi.spyOn(Date, 'now');
    try {
      const starts = Array.from({ length: 50 }, (_, i) => {
        now.mockReturnValue(base + i);
        return predictionId().slice(15, 23);
      });
      expect(new Set(starts).size).toBe(starts.length);
    } finally {
      now.mockRestore();
    }
  });
});
