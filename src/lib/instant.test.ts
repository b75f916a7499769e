import { describe, expect, it } from 'vitest';
import { parseInstant } from './instant.js';

describe('parseInstant', () => {
  it('a date is midnight UTC; a date and time needs its zone, Z or an offset, with T or a space', () => {
    const iso = (t: string) => parseInstant(t, 'at').toISOString();
    expect(iso('2026-12-04')).toBe('2026-12-04T00:00:00.000Z');
    expect(iso('2026-12-04T20:00Z')).toBe('2026-12-04T20:00:00.000Z');
    expect(iso('2026-12-04 20:00:30.25+02:00')).toBe('2026-12-04T18:00:30.250Z');
    expect(iso('2026-12-04T20:00:00-0530')).toBe('2026-12-05T01:30:00.000Z');
    expect(iso(' 2026-12-04t20:00:00z ')).toBe('2026-12-04T20:00:00.000Z');
  });

  it("refuses what would be read in some machine's own zone, dates off the calendar and other text, saying what to send", () => {
    const why = (t: string) => {
      try {
        parseInstant(t, '--from');
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(why('2026-12-04T20:00')).toBe('--from: "2026-12-04T20:00" has a time but no zone; add Z (UTC) or an offset such as +02:00');
    expect(why('2026-12-04 20:00')).toBe('--from: "2026-12-04 20:00" has a time but no zone; add Z (UTC) or an offset such as +02:00');
    expect(why('2026-02-30')).toBe('--from: 2026-02-30 is not a date on the calendar');
    expect(why('2026-12-04T25:00Z')).toMatch(/^--from: expected a date such as 2026-11-23 \(midnight UTC\) or a date and time with its zone/);
    for (const t of ['12/04/2026', 'Dec 4 2026', 'yesterday', '24h', '1796415345', '']) expect(why(t), t).toMatch(/^--from: expected a date such as/);
  });
});
