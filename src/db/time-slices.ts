import { Yielder } from '../lib/yielder.js';
import type { Dialect } from './dialect.js';

/** Width of one slice of an aggregate over time on SQLite. */
export const SQLITE_SLICE_MS = 10 * 60_000;

/**
 * An aggregate over [from, to) (ISO timestamps), run so it cannot hold the request thread: on
 * SQLite, whose driver is synchronous, once per 10-minute slice with a turn of the event loop
 * between slices (one count over a week of predictions would block every request for as long
 * as it scans); on PostgreSQL, once. Returns every run's rows, for the caller to add up.
 */
export async function overTimeSlices<T>(dialect: Dialect, from: string, to: string, run: (from: string, to: string) => Promise<T[]>): Promise<T[]> {
  if (dialect !== 'sqlite') return run(from, to);
  const out: T[] = [];
  const yielder = new Yielder();
  const end = Date.parse(to);
  for (let t = Date.parse(from); t < end; t += SQLITE_SLICE_MS) {
    out.push(...(await run(new Date(t).toISOString(), t + SQLITE_SLICE_MS >= end ? to : new Date(t + SQLITE_SLICE_MS).toISOString())));
    await yielder.pause();
  }
  return out;
}
