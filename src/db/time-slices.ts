import { sql, type Kysely } from 'kysely';
import { Yielder } from '../lib/yielder.js';
import type { Database } from './schema.js';
import type { Dialect } from './dialect.js';

/** Rows one slice's query may read at most on SQLite: a few milliseconds of work. */
export const SLICE_ROWS = 5000;
const FIRST_MS = 60_000;
const MIN_MS = 1;
const MAX_MS = 3_600_000;

export interface SlicedAggregate<T> {
  /** The aggregate over [from, to). */
  run(from: string, to: string): Promise<T[]>;
  /** Rows in [from, to), counted up to `limit` (an upper bound is enough: a cheap index-only count). */
  rowsUpTo(from: string, to: string, limit: number): Promise<number>;
}

/**
 * An aggregate over [from, to) (ISO timestamps), run so it cannot hold the request thread: on
 * SQLite, whose driver is synchronous, once per time slice of at most SLICE_ROWS rows with a
 * turn of the event loop between slices (one count over a week of predictions would block
 * every request for as long as it scans); on PostgreSQL, once. A slice is first sized with a
 * bounded count (rowsUpTo): too many rows and it is narrowed before the aggregate runs, few and
 * the next one is wider, so a dense minute and an empty week both take short queries. Returns
 * every slice's rows, for the caller to add up.
 */
export async function overTimeSlices<T>(dialect: Dialect, from: string, to: string, q: SlicedAggregate<T>): Promise<T[]> {
  if (dialect !== 'sqlite') return q.run(from, to);
  const out: T[] = [];
  const yielder = new Yielder();
  const end = Date.parse(to);
  let width = FIRST_MS;
  for (let t = Date.parse(from); t < end;) {
    const next = Math.min(t + width, end);
    const a = new Date(t).toISOString();
    const b = next === end ? to : new Date(next).toISOString();
    const rows = await q.rowsUpTo(a, b, SLICE_ROWS + 1);
    if (rows > SLICE_ROWS && width > MIN_MS) {
      width = Math.max(MIN_MS, Math.floor(width / 4));
      continue;
    }
    if (rows) out.push(...(await q.run(a, b)));
    if (rows < SLICE_ROWS / 4) width = Math.min(MAX_MS, width * 2);
    t = next;
    await yielder.pause();
  }
  return out;
}

/** rowsUpTo for a model's rows of a table with a (model, at) index: counted on the index alone, at most `limit`. */
export function modelRowsUpTo(k: Kysely<Database>, table: 'predictions' | 'feedback', model: string): SlicedAggregate<unknown>['rowsUpTo'] {
  return async (from, to, limit) => {
    const inner = k
      .selectFrom(table)
      .select(sql<number>`1`.as('one'))
      .where('model', '=', model)
      .where('at', '>=', from)
      .where('at', '<', to)
      .limit(limit);
    const r = await k
      .selectFrom(inner.as('w'))
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };
}

/** rowsUpTo for a model's predictions. */
export const predictionRowsUpTo = (k: Kysely<Database>, model: string) => modelRowsUpTo(k, 'predictions', model);
