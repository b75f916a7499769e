import { describe, expect, it } from 'vitest';
import { isoTime } from './iso-time.js';

describe('isoTime', () => {
  it('formats exactly as Date#toISOString, in any order of calls', () => {
    const base = Date.UTC(2026, 10, 24, 23, 59, 58, 990);
    const times: number[] = [];
    // Across second, minute, hour, day, month and year boundaries, forwards then backwards.
    for (let i = 0; i < 3000; i++) times.push(base + i);
    for (let i = 0; i < 3000; i++) times.push(Date.UTC(2027, 0, 1) + 500 - i);
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 253402300799999));
    times.push(0, 1, 999, 1000, 951782400000 /* 2000-02-29 */, 253402300799999, -1, -86400001, 253402300800000, 1.7);
    for (const t of times) expect(isoTime(t)).toBe(new Date(t).toISOString());
  });
});
