import { AppError } from '../lib/errors.js';
import { isMissingCell } from '../lib/missing.js';

/** What a time split orders the rows by: ms since 1970 for dates and times, else the numbers as they are. */
export interface OrderColumn {
  column: string;
  values: Float64Array;
  kind: 'time' | 'number';
}

/** An ISO date, or a date and time (a time without a zone is read as UTC: it only orders rows). */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
/** A date as spreadsheets write it, 7/1/2015 or 01/07/2015, with an optional time: month/day or day/month, told by the column. */
const SLASH_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

/** ms since 1970 for a date on the calendar (month 1–12, the day within it), else NaN. */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  return mo >= 1 && mo <= 12 && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60 ? ms : NaN;
}

/**
 * The time column of a training file, read row by row in the second pass. A value must be a
 * number, an ISO date or time, or a slash date; a column of slash dates is read month/day when
 * every value is a date that way (a second part above 12 makes it so), day/month when only that
 * way works, and refused when both read every row but differently (3/4/2024 alone).
 */
export class OrderReader {
  private readonly values: Float64Array;
  /** Slash dates read day/month, beside `values` (month/day), until the column says which. */
  private dayFirst?: Float64Array;
  private readonly kinds = { iso: 0, slash: 0, number: 0 };
  private monthFirstBad = 0;
  private dayFirstBad = 0;
  private differ = false;
  private bad?: { line: number; value: string; count: number };

  constructor(
    private readonly column: string,
    rows: number,
    private readonly num: (raw: string) => number | undefined,
  ) {
    this.values = new Float64Array(rows);
  }

  add(i: number, raw: string | undefined, line: number): void {
    const t = isMissingCell(raw) ? undefined : raw!.trim();
    const n = t === undefined ? undefined : this.num(t);
    if (n !== undefined && Number.isFinite(n)) {
      this.values[i] = n;
      this.kinds.number++;
      return;
    }
    const iso = t === undefined || n !== undefined ? null : ISO_TIME.exec(t);
    if (iso) {
      const ms = Date.parse(iso[4] === undefined ? `${t!.slice(0, 10)}T00:00:00Z` : `${t!.replace(' ', 'T')}${iso[7] ? '' : 'Z'}`);
      if (!Number.isNaN(ms)) {
        this.values[i] = ms;
        this.kinds.iso++;
        return;
      }
    }
    const slash = t === undefined || n !== undefined ? null : SLASH_DATE.exec(t);
    if (slash) {
      const [a, b, y, h, mi, s] = slash.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
      const monthFirst = utc(y, a, b, h, mi, s);
      const dayFirst = utc(y, b, a, h, mi, s);
      if (!Number.isNaN(monthFirst) || !Number.isNaN(dayFirst)) {
        this.dayFirst ??= new Float64Array(this.values.length);
        this.values[i] = monthFirst;
        this.dayFirst[i] = dayFirst;
        if (Number.isNaN(monthFirst)) this.monthFirstBad++;
        if (Number.isNaN(dayFirst)) this.dayFirstBad++;
        if (monthFirst !== dayFirst) this.differ = true;
        this.kinds.slash++;
        return;
      }
    }
    if (this.bad) this.bad.count++;
    else this.bad = { line, value: raw ?? '', count: 1 };
  }

  /** The column, or why it cannot order the rows: a value neither a time nor a number, kinds mixed, or slash dates read either way. */
  result(file: string): OrderColumn {
    const { column, kinds } = this;
    const where = `${file}: --time-column ${column}`;
    if (this.bad) {
      const { line, value, count } = this.bad;
      throw new AppError(
        'BAD_REQUEST',
        `${where} has ${count === 1 ? 'a value' : `${count} values`} that ${count === 1 ? 'is' : 'are'} neither a date or time (2026-11-23, 2026-11-23T10:00:00Z, 11/23/2026) nor a number, the first ${isMissingCell(value) ? 'missing' : JSON.stringify(value)} on line ${line}; a time split needs a time for every row: fill or drop those rows`,
      );
    }
    const dates = kinds.iso + kinds.slash;
    if (dates && kinds.number)
      throw new AppError('BAD_REQUEST', `${where} holds dates in ${dates} rows and plain numbers in ${kinds.number}, which do not order against each other; write every value one way`);
    if (kinds.iso && kinds.slash) throw new AppError('BAD_REQUEST', `${where} holds dates written 2026-11-23 in ${kinds.iso} rows and 11/23/2026 in ${kinds.slash}; write every value one way`);
    if (kinds.slash) {
      if (this.monthFirstBad && this.dayFirstBad) throw new AppError('BAD_REQUEST', `${where}: its dates read neither as month/day nor as day/month for every row; write them as 2026-11-23`);
      if (this.monthFirstBad) return { column, values: this.dayFirst!, kind: 'time' };
      if (!this.dayFirstBad && this.differ)
        throw new AppError('BAD_REQUEST', `${where}: dates such as 3/4/2024 read as month/day and as day/month alike in every row, so the order is not known; write them as 2026-11-23`);
    }
    return { column, values: this.values, kind: kinds.number ? 'number' : 'time' };
  }
}
