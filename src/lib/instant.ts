import { AppError } from './errors.js';

/**
 * A point in time a user typed: an ISO 8601 date (midnight UTC) or a date and time with its zone
 * (`Z` or an offset). Anything else Date.parse would take is refused, since it reads a time
 * without a zone, "12/04/2026" and "Dec 4" in the zone of whichever machine parses it (a server's
 * is not the caller's), and rolls 2026-02-30 over to March 2.
 */
export function parseInstant(text: string, field: string, alsoExpected = ''): Date {
  const t = text.trim();
  const fail = (why: string): never => {
    throw new AppError('VALIDATION_FAILED', `${field}: ${why}`, { field });
  };
  const expected = `expected a date such as 2026-11-23 (midnight UTC) or a date and time with its zone such as 2026-11-23T10:00:00Z${alsoExpected}, got ${JSON.stringify(text)}`;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(t);
  if (!m) return fail(expected);
  const [, y, mo, d, sep, , , , zone] = m;
  if (sep && !zone) return fail(`${JSON.stringify(text)} has a time but no zone; add Z (UTC) or an offset such as +02:00`);
  // Date.parse rolls 2030-02-30 over to March; a date that is not on the calendar is a typo.
  if (new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) return fail(`${y}-${mo}-${d} is not a date on the calendar`);
  const ms = Date.parse(sep === ' ' ? t.replace(' ', 'T') : t);
  if (Number.isNaN(ms)) return fail(expected);
  return new Date(ms);
}
