import type { Worker } from 'node:worker_threads';
import { fromThreadError, startSiblingWorker, type ThreadError } from '../lib/worker.js';
import type { Row } from './encoder.js';
import type { RawOutput } from './engine.js';
import { ReferenceLost, type Reference } from './reference.js';
import type { ReferenceRequest } from './reference-thread.js';
import type { ServableSpec } from './servable.js';

/** A request that waits for its answer, without the id it is sent with. */
type Ask = ReferenceRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

type Reply = { id: number; ready?: true; data?: Float32Array | Float64Array; dims?: number[] } & Partial<ThreadError>;

/** How long the thread stays after its last check: versions load in bursts (start-up, a promote on each replica). */
const IDLE_MS = 60_000;

const failed = (m: Reply) => fromThreadError({ ...m, error: m.error ?? 'failed' });

/**
 * One thread per process for the onnxruntime sessions compiled versions are checked against
 * (reference-thread.ts), so a server loading a version keeps answering requests: the sessions
 * are created and run there, beside the compile on the request thread. Started at the first
 * check (its start costs about 0.3 s of CPU on that thread) and ended after a minute without one.
 */
class ReferenceThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();
  private open = 0;
  private idle: NodeJS.Timeout | undefined;

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startSiblingWorker(import.meta.url, 'reference-thread');
    const lose = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const gone = new ReferenceLost(`the check thread stopped: ${why}`);
      for (const p of this.pending.values()) p.reject(gone);
      this.pending.clear();
    };
    w.on('error', (e) => lose(e.message));
    w.on('exit', (code) => lose(`exit code ${code}`));
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.settle();
      p.resolve(m);
    });
    this.worker = w;
    return w;
  }

  /** Held open (the process waits for it) only while an answer is awaited; ended once unused for IDLE_MS. */
  private settle(): void {
    const w = this.worker;
    if (!w) return;
    if (this.pending.size) w.ref();
    else w.unref();
    clearTimeout(this.idle);
    this.idle = undefined;
    if (!this.open && !this.pending.size) {
      this.idle = setTimeout(() => {
        if (this.worker === w && !this.open && !this.pending.size) {
          this.worker = undefined;
          void w.terminate();
        }
      }, IDLE_MS).unref();
    }
  }

  private ask(message: Ask): Promise<Reply> {
    let w: Worker;
    try {
      w = this.start();
    } catch (e) {
      return Promise.reject(new ReferenceLost(`the check thread could not start: ${(e as Error).message}`));
    }
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.settle();
      w.postMessage({ ...message, id });
    });
  }

  async openReference(graph: Uint8Array, spec: ServableSpec): Promise<Reference> {
    const opened = await this.ask({ type: 'open', graph, spec });
    if (!opened.ready) throw failed(opened);
    const ref = opened.id;
    const worker = this.worker;
    this.open++;
    let released = false;
    return {
      run: async (rows: Row[]): Promise<RawOutput> => {
        if (released || this.worker !== worker) throw new ReferenceLost('the check thread that opened this reference is gone');
        const m = await this.ask({ type: 'run', ref, rows });
        if (!m.data || !m.dims) throw failed(m);
        return { data: m.data, dims: m.dims };
      },
      release: async () => {
        if (released) return;
        released = true;
        this.open--;
        if (this.worker === worker) worker?.postMessage({ type: 'release', ref });
        this.settle();
      },
    };
  }
}

const shared = new ReferenceThread();

/** The onnxruntime reference for a compiled version's check, opened on the process's check thread. */
export const openReferenceOffThread = (graph: Uint8Array, spec: ServableSpec): Promise<Reference> => shared.openReference(graph, spec);
