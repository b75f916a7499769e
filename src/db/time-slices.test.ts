import { describe, expect, it } from 'vitest';
import { overTimeSlices, SLICE_ROWS } from './time-slices.js';

describe('overTimeSlices', () => {
  // A week with sparse traffic, and 60,000 events inside one second of it.
  const start = Date.UTC(2026, 0, 1);
  const end = start + 7 * 86_400_000;
  const events: number[] = [];
  for (let t = start; t < end; t += 60_000) events.push(t);
  const burst = start + 3 * 86_400_000 + 12_345;
  for (let i = 0; i < 60_000; i++) events.push(burst + (i % 1000));
  events.sort((a, b) => a - b);
  const inRange = (a: string, b: string) => {
    const lo = Date.parse(a);
    const hi = Date.parse(b);
    return events.filter((t) => t >= lo && t < hi).length;
  };

  it('on SQLite: slices cover the range exactly once, none runs over more than SLICE_ROWS rows unless 1 ms wide, and the counts add up', async () => {
    const ran: [string, string, number][] = [];
    const counts = await overTimeSlices('sqlite', new Date(start).toISOString(), new Date(end).toISOString(), {
      run: async (a, b) => {
        const n = inRange(a, b);
        ran.push([a, b, n]);
        return [n];
      },
      rowsUpTo: async (a, b, limit) => Math.min(limit, inRange(a, b)),
    });
    expect(counts.reduce((x, y) => x + y, 0)).toBe(events.length);
    for (const [a, b, n] of ran) if (Date.parse(b) - Date.parse(a) > 1) expect(n).toBeLessThanOrEqual(SLICE_ROWS);
    // Contiguous: each slice starts where a run or a skipped empty slice ended; none overlaps.
    const slices = ran.map(([a, b]) => [Date.parse(a), Date.parse(b)]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < slices.length; i++) expect(slices[i][0]).toBeGreaterThanOrEqual(slices[i - 1][1]);
    // Sparse traffic widens the slices: far fewer queries than minutes in a week.
    expect(ran.length).toBeLessThan(2000);
  });

  it('on PostgreSQL: one run over the whole range', async () => {
    const ran: string[][] = [];
    const out = await overTimeSlices('postgres', 'a', 'b', { run: async (a, b) => (ran.push([a, b]), [1]), rowsUpTo: async () => 0 });
    expect(ran).toEqual([['a', 'b']]);
    expect(out).toEqual([1]);
  });
});
