import { parentPort } from 'node:worker_threads';
import { toThreadError } from '../lib/worker.js';
import type { Row } from './encoder.js';
import type { Reference } from './reference.js';
import { Servable, type ServableSpec } from './servable.js';

/**
 * Worker-thread side of the off-thread reference (off-thread-reference.ts): opens the
 * onnxruntime sessions compiled versions are checked against, here instead of on the thread
 * that answers requests. onnxruntime-node creates a session synchronously on the calling thread
 * (0.2 s for a 60-tree forest) and runs it there too.
 */
export type ReferenceRequest = { type: 'open'; id: number; graph: Uint8Array; spec: ServableSpec } | { type: 'run'; id: number; ref: number; rows: Row[] } | { type: 'release'; ref: number };

const port = parentPort!;
const open = new Map<number, Promise<Reference>>();

const failure = (id: number, e: unknown) => ({ id, ...toThreadError(e) });

port.on('message', (m: ReferenceRequest) => {
  switch (m.type) {
    case 'open': {
      // The request's id names the session from then on.
      const opening = Servable.openReference(m.graph, m.spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 } });
      open.set(m.id, opening);
      opening.then(
        () => port.postMessage({ id: m.id, ready: true }),
        (e: unknown) => {
          open.delete(m.id);
          port.postMessage(failure(m.id, e));
        },
      );
      return;
    }
    case 'run': {
      const reference = open.get(m.ref);
      if (!reference) {
        port.postMessage(failure(m.id, new Error(`no open reference ${m.ref}`)));
        return;
      }
      reference
        .then((r) => r.run(m.rows))
        .then(
          (out) => port.postMessage({ id: m.id, data: out.data, dims: out.dims }),
          (e: unknown) => port.postMessage(failure(m.id, e)),
        );
      return;
    }
    case 'release': {
      const reference = open.get(m.ref);
      open.delete(m.ref);
      void reference?.then((r) => r.release()).catch(() => undefined);
      return;
    }
  }
});
