import SQLite from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { applySqlitePragmas } from '../db/sqlite-pragmas.js';
import { applyThreadPriority, type ThreadPriority } from '../lib/thread-priority.js';
import { COLUMNS, parseCopyLine } from './copy-batch.js';

/**
 * Worker-thread side of the SQLite audit writer: its own connection to the database file
 * (WAL, so the request thread's reads never wait for it), one transaction per batch. The
 * request thread hands over a batch's COPY text, or its bytes in shared memory, which this
 * thread decodes.
 */
const { file, priority } = workerData as { file: string; priority: ThreadPriority };
const port = parentPort!;
// At idle priority the request thread keeps its core: this thread's inserts no longer preempt it
// (docs/performance.md has the measurements). The main thread logs the outcome.
port.postMessage({ started: applyThreadPriority(priority) });
const db = new SQLite(file);
applySqlitePragmas(db);
const width = COLUMNS.split(', ').length;
const tuple = `(${new Array<string>(width).fill('?').join(', ')})`;
/**
 * Rows per INSERT statement. One statement for ten rows cost this thread 18 % less CPU a row
 * than ten statements (a 500-row batch of telco records, 7.9 → 6.4 µs a row): each statement run
 * opens its cursors on the table and its three indexes once, and binds its values in one call.
 */
const ROWS_PER_INSERT = 10;
// Ids already present are skipped: a spill file replayed after a crash is written once.
const insertOne = db.prepare(`insert or ignore into predictions (${COLUMNS}) values ${tuple}`);
const insertMany = db.prepare(`insert or ignore into predictions (${COLUMNS}) values ${new Array<string>(ROWS_PER_INSERT).fill(tuple).join(', ')}`);
const params: unknown[] = new Array(ROWS_PER_INSERT * width);
if (width !== 14) throw new Error(`the audit table has ${width} columns; put() below fills 14`);

/** A COPY line's values into params from `at`, in COLUMNS order. */
function put(line: string, at: number): void {
  const r = parseCopyLine(line);
  params[at] = r.id;
  params[at + 1] = r.at;
  params[at + 2] = r.model;
  params[at + 3] = r.version;
  params[at + 4] = r.arm;
  params[at + 5] = r.event_id;
  params[at + 6] = r.features;
  params[at + 7] = r.features_sha256;
  params[at + 8] = r.score;
  params[at + 9] = r.decision;
  params[at + 10] = r.latency_ms;
  params[at + 11] = r.cached ? 1 : 0;
  params[at + 12] = r.key_id;
  params[at + 13] = r.label;
}

const writeAll = db.transaction((lines: string[]) => {
  let n = 0;
  let held = 0; // rows in params, not yet inserted
  for (const line of lines) {
    if (!line) continue;
    put(line, held * width);
    n++;
    if (++held === ROWS_PER_INSERT) {
      // Spread, not the array: better-sqlite3 reads an array's elements through a slow property
      // lookup each (0.3–0.6 µs a row more, measured).
      insertMany.run(...params);
      held = 0;
    }
  }
  for (let k = 0; k < held; k++) insertOne.run(...params.slice(k * width, (k + 1) * width));
  return n;
});

port.on('message', (m: { id: number; text: string } | { id: number; bytes: Uint8Array; length: number } | { close: true }) => {
  if ('close' in m) {
    db.close();
    // In a worker, exit ends this thread only; a loader's port (tsx from sources) would otherwise keep it alive.
    process.exit(0);
  }
  try {
    const text = 'text' in m ? m.text : Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.length).toString('utf8');
    port.postMessage({ id: m.id, written: writeAll(text.split('\n')) });
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
