import { parentPort, workerData } from 'node:worker_threads';
import { applyThreadPriority, type ThreadPriority } from '../lib/thread-priority.js';
import type { Row } from './encoder.js';
import { Servable, type ServableSpec } from './servable.js';

/**
 * Worker-thread side of the off-thread scorer: holds its own onnxruntime sessions, so a slow
 * or failing model scored here never blocks the thread that answers requests.
 */
type Message = { type: 'score'; id: number; key: string; rows: Row[]; load?: { bytes: Uint8Array; spec: ServableSpec } } | { type: 'release'; key: string };

const sessions = new Map<string, Promise<Servable>>();
const port = parentPort!;
// Shadow traffic must never slow the request thread: at idle priority this thread only takes
// CPU time no normal thread wants (on a saturated machine shadow requests are then dropped and
// counted, as when the shadow queue is full).
port.postMessage({ started: applyThreadPriority((workerData as { priority?: ThreadPriority } | undefined)?.priority ?? 'normal') });

port.on('message', (m: Message) => {
  if (m.type === 'release') {
    const s = sessions.get(m.key);
    sessions.delete(m.key);
    void s?.then((x) => x.release()).catch(() => undefined);
    return;
  }
  let s = sessions.get(m.key);
  if (!s && m.load) {
    s = Servable.load(m.load.bytes, m.load.spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 } });
    sessions.set(m.key, s);
    s.catch(() => sessions.delete(m.key));
  }
  if (!s) {
    port.postMessage({ id: m.id, missing: true });
    return;
  }
  s.then((x) => x.scoreMany(m.rows)).then(
    (scores) => port.postMessage({ id: m.id, scores }),
    (e: Error) => port.postMessage({ id: m.id, error: e.message }),
  );
});
