import SQLite from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
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
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
const columns = COLUMNS.split(', ');
// Ids already present are skipped: a spill file replayed after a crash is written once.
const insert = db.prepare(`insert or ignore into predictions (${COLUMNS}) values (${columns.map(() => '?').join(', ')})`);
const writeAll = db.transaction((lines: string[]) => {
  let n = 0;
  for (const line of lines) {
    if (!line) continue;
    const r = parseCopyLine(line);
    insert.run(r.id, r.at, r.model, r.version, r.arm, r.event_id, r.features, r.features_sha256, r.score, r.decision, r.latency_ms, r.cached ? 1 : 0, r.key_id, r.label);
    n++;
  }
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
