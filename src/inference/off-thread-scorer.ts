import type { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.js';
import { logThreadStart, type ThreadPriority, type ThreadStart } from '../lib/thread-priority.js';
import { startSiblingWorker } from '../lib/worker.js';
import type { Row } from './encoder.js';
import type { ServableSpec } from './servable.js';
import type { Outcome } from './outcome.js';

/**
 * Scores rows on a worker thread with its own onnxruntime sessions. Used for work that must
 * never slow down the request path (shadow traffic): onnxruntime-node runs a session
 * synchronously on the calling thread, so scoring there would stall every other request.
 */
export class OffThreadScorer {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { key: string; resolve: (s: Outcome[]) => void; reject: (e: Error) => void }>();
  private readonly known = new Set<string>();
  private started: ThreadStart | undefined;

  /** `priority`: idle runs the thread under Linux's SCHED_IDLE, so it never takes the request thread's CPU; normal (the default) as any thread. */
  constructor(
    private readonly fetch: (model: string, version: number) => Promise<{ bytes: Uint8Array; spec: ServableSpec } | undefined>,
    private readonly o: { priority?: ThreadPriority; log?: Logger } = {},
  ) {}

  /** The running thread's report (undefined until it has started). */
  get info(): ThreadStart | undefined {
    return this.started;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startSiblingWorker(import.meta.url, 'scorer-thread', { priority: this.o.priority ?? 'normal' });
    this.started = undefined;
    w.unref();
    w.on('message', (m: { id: number; scores?: Outcome[]; error?: string; missing?: boolean } | { started: ThreadStart }) => {
      if ('started' in m) {
        if (this.worker === w) this.started = m.started;
        logThreadStart(m.started, 'the shadow scoring thread', this.o.log);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      // The thread lost (or never managed to load) this version: send the graph again next time.
      if (m.missing || m.error) this.known.delete(p.key);
      if (m.scores) p.resolve(m.scores);
      else p.reject(new Error(m.error ?? 'model not loaded on the scoring thread'));
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.known.clear();
      this.worker = undefined;
    };
    w.on('error', failAll);
    w.on('exit', () => failAll(new Error('scoring thread exited')));
    this.worker = w;
    return w;
  }

  async score(model: string, version: number, rows: Row[]): Promise<Outcome[]> {
    const key = `${model}@${version}`;
    const w = this.start();
    let load: { bytes: Uint8Array; spec: ServableSpec } | undefined;
    if (!this.known.has(key)) {
      load = await this.fetch(model, version);
      if (!load) throw new Error(`model ${model} has no version ${version}`);
      this.known.add(key);
    }
    const id = this.nextId++;
    return new Promise<Outcome[]>((resolve, reject) => {
      this.pending.set(id, { key, resolve, reject });
      w.postMessage({ type: 'score', id, key, rows, ...(load ? { load } : {}) });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
