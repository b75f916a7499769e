import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.js';
import { logThreadStart, type ThreadPriority, type ThreadStart } from '../lib/thread-priority.js';
import { startSiblingWorker } from '../lib/worker.js';

/** Shared buffers kept for reuse: batches in flight at once are few. */
const SPARE_BUFFERS = 4;

export interface SqliteAuditThreadOptions {
  /**
   * `normal` (the default): as any thread; `idle`: under Linux's SCHED_IDLE, on CPU time the
   * request thread does not want.
   */
  priority?: ThreadPriority;
  /**
   * A batch that takes longer than this (ms, from hand-over to answer) at idle priority means
   * the thread is starved of CPU: the thread is replaced by one at normal priority.
   */
  starvedMs?: number;
  log?: Logger;
}

/**
 * Writes audit batches to a SQLite file from a worker thread. better-sqlite3 is synchronous:
 * on the request thread every batch stalled every request for as long as its transaction took
 * (the issue #19 measurement: 38 % of the bare server's throughput with the audit log on).
 * A failed write or a thread that died rejects, and the caller spills the batch to disk as it
 * does for a database outage; the next write starts a new thread.
 */
export class SqliteAuditThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void; thread: Worker }>();
  /** Shared buffers the thread has finished with. */
  private readonly spare: Uint8Array[] = [];
  private priority: ThreadPriority;
  private readonly starvedMs: number;
  private started: ThreadStart | undefined;

  constructor(
    private readonly file: string,
    private readonly o: SqliteAuditThreadOptions = {},
  ) {
    this.priority = o.priority ?? 'normal';
    this.starvedMs = o.starvedMs ?? 1000;
  }

  /** The running thread's report (undefined until it has started). */
  get info(): ThreadStart | undefined {
    return this.started;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startSiblingWorker(import.meta.url, 'sqlite-thread', { file: this.file, priority: this.priority });
    this.started = undefined;
    w.on('message', (m: { id: number; written?: number; error?: string } | { started: ThreadStart }) => {
      if ('started' in m) {
        if (this.worker === w) this.started = m.started;
        logThreadStart(m.started, 'the SQLite audit thread', this.o.log);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.written ?? 0);
    });
    const failAll = (e: Error) => {
      if (this.worker === w) this.worker = undefined;
      // A thread retired for a normal-priority one still answers for what it was sent.
      for (const [id, p] of this.pending) {
        if (p.thread !== w) continue;
        this.pending.delete(id);
        p.reject(e);
      }
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new Error(`the SQLite audit thread exited (code ${code})`)));
    // Only pending writes keep the process alive, never an idle thread.
    w.unref();
    this.worker = w;
    return w;
  }

  /**
   * Insert the records of newline-terminated COPY lines (text, or its UTF-8 bytes), skipping ids
   * already present; resolves with the rows written. Bytes are copied into shared memory the
   * thread decodes: turning a 500-row batch into a string and cloning it into the thread took
   * the request thread 340–460 µs a batch (measured), a pause every batch. The shared buffers
   * are reused once the thread has answered, because fresh memory costs its page faults again.
   */
  write(lines: string | Uint8Array): Promise<number> {
    const w = this.start();
    const id = this.nextId++;
    let shared: Uint8Array | undefined;
    let message: { id: number; text: string } | { id: number; bytes: Uint8Array; length: number };
    if (typeof lines === 'string') message = { id, text: lines };
    else {
      shared = this.sharedFor(lines.byteLength);
      shared.set(lines);
      message = { id, bytes: shared, length: lines.byteLength };
    }
    const posted = performance.now();
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, thread: w });
      if (this.pending.size === 1) w.ref();
      w.postMessage(message);
    }).finally(() => {
      if (shared && this.spare.length < SPARE_BUFFERS) this.spare.push(shared);
      const ms = performance.now() - posted;
      if (this.worker === w && this.started?.priority === 'idle' && ms > this.starvedMs) this.runNormally(w, ms);
      if (this.pending.size === 0) this.worker?.unref();
    });
  }

  /**
   * An idle-priority thread only gets CPU time no normal thread wants; on a machine busy with
   * other work it may wait for seconds while the queue grows. The thread cannot raise its own
   * priority back without privileges, so it is retired (it finishes what it was sent, then
   * exits) and the next write starts a thread at normal priority, for the rest of the process.
   */
  private runNormally(w: Worker, ms: number): void {
    this.priority = 'normal';
    this.worker = undefined;
    this.o.log?.warn({ batch_ms: Math.round(ms), starved_ms: this.starvedMs }, 'the SQLite audit thread waited too long for CPU time at idle priority; it runs at normal priority from now on');
    w.postMessage({ close: true });
  }

  /** A shared buffer of at least `bytes`: a spare one, else a new one with room to grow. */
  private sharedFor(bytes: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.spare.splice(i, 1)[0];
    return new Uint8Array(new SharedArrayBuffer(Math.ceil(bytes * 1.25)));
  }

  /** Close the thread's connection once its queued writes are done. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    // Held until it has exited: an unref'd thread would let the process end before shutdown finishes.
    w.ref();
    w.postMessage({ close: true });
    await exited;
  }
}
