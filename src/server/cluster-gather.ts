import cluster, { type Worker } from 'node:cluster';

/**
 * With WORKERS > 1 a request lands on one worker, which knows only itself. For what must describe
 * the whole server (/metrics, /health) that worker asks the primary, which asks every live worker
 * for its part over IPC and combines them. A worker that does not answer within `timeoutMs` is
 * left out and named as unanswered, so the asking request always gets an answer; one that dies
 * meanwhile is simply gone. prom-client's own `clusterMetrics()` instead waits for every worker
 * and fails the whole scrape after 5 s when one has just died or not yet started.
 */

const TYPE = 'modelgate:cluster';
type Op = 'ready' | 'ask' | 'collect' | 'part' | 'result';
interface Msg {
  type: typeof TYPE;
  op: Op;
  name?: string;
  id?: number;
  value?: unknown;
  error?: string;
}
const isMsg = (m: unknown): m is Msg => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === TYPE;

/** What the primary collected for one question: each answering worker's part, and who did not answer. */
export interface Gathered<T = unknown> {
  parts: { pid: number; value: T }[];
  /** Live workers that were asked and did not answer in time (or failed to). */
  unanswered: number[];
  /** Forked workers that have not joined yet (still starting): not asked. */
  starting: number[];
}

export type Combine = (gathered: Gathered) => unknown;

/** Primary side: answers workers' questions by name, each with its `combine`. */
export function serveClusterGather(combiners: Record<string, Combine>, opts: { timeoutMs?: number } = {}): void {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const joined = new Set<number>();
  const pidOf = (w: Worker) => w.process.pid ?? 0;
  let nextId = 0;
  const collecting = new Map<number, { gathered: Gathered; waiting: Map<number, number>; finish: () => void }>();

  const gather = (name: string): Promise<Gathered> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
      const targets = live.filter((w) => joined.has(w.id));
      const gathered: Gathered = { parts: [], unanswered: [], starting: live.filter((w) => !joined.has(w.id)).map(pidOf) };
      const waiting = new Map(targets.map((w) => [w.id, pidOf(w)]));
      const finish = () => {
        clearTimeout(timer);
        collecting.delete(id);
        gathered.unanswered.push(...waiting.values());
        resolve(gathered);
      };
      const timer = setTimeout(finish, timeoutMs);
      collecting.set(id, { gathered, waiting, finish });
      for (const w of targets) w.send({ type: TYPE, op: 'collect', name, id } satisfies Msg);
      if (targets.length === 0) finish();
    });

  cluster.on('message', (worker: Worker, msg: unknown) => {
    if (!isMsg(msg)) return;
    if (msg.op === 'ready') joined.add(worker.id);
    else if (msg.op === 'part' && msg.id !== undefined) {
      const c = collecting.get(msg.id);
      const pid = c?.waiting.get(worker.id);
      if (!c || pid === undefined) return;
      c.waiting.delete(worker.id);
      if (msg.error === undefined) c.gathered.parts.push({ pid, value: msg.value });
      else c.gathered.unanswered.push(pid);
      if (c.waiting.size === 0) c.finish();
    } else if (msg.op === 'ask' && msg.id !== undefined) {
      const combine = msg.name === undefined ? undefined : combiners[msg.name];
      const reply = (r: { value?: unknown; error?: string }) => worker.isConnected() && worker.send({ type: TYPE, op: 'result', id: msg.id, ...r } satisfies Msg);
      if (!combine) reply({ error: `the primary process gathers no ${msg.name}` });
      else
        gather(msg.name!)
          .then(combine)
          .then(
            (value) => reply({ value }),
            (e: Error) => reply({ error: e.message }),
          );
    }
  });
  cluster.on('exit', (worker) => {
    joined.delete(worker.id);
    // A worker that dies mid-collection will never answer: stop waiting for it.
    for (const c of collecting.values()) if (c.waiting.delete(worker.id) && c.waiting.size === 0) c.finish();
  });
}

export interface ClusterMember {
  /** Answer the primary's collections of `name` with `part` (this worker's own share). */
  answer(name: string, part: () => unknown): void;
  /** Ask the primary for `name` combined over every worker. */
  ask(name: string): Promise<unknown>;
}

/** Worker side: join the primary's collections; one per process. */
export function joinClusterGather(timeoutMs = 10_000): ClusterMember {
  const send = process.send?.bind(process);
  if (!send) throw new Error('joinClusterGather needs an IPC channel to the primary (cluster worker)');
  const parts = new Map<string, () => unknown>();
  let nextId = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  process.on('message', (msg: unknown) => {
    if (!isMsg(msg)) return;
    if (msg.op === 'collect' && msg.id !== undefined) {
      const part = msg.name === undefined ? undefined : parts.get(msg.name);
      Promise.resolve()
        .then(() => {
          if (!part) throw new Error(`this worker answers no ${msg.name}`);
          return part();
        })
        .then(
          (value) => send({ type: TYPE, op: 'part', id: msg.id, value } satisfies Msg),
          (e: Error) => send({ type: TYPE, op: 'part', id: msg.id, error: e.message } satisfies Msg),
        );
    } else if (msg.op === 'result' && msg.id !== undefined) {
      const w = waiting.get(msg.id);
      if (!w) return;
      waiting.delete(msg.id);
      clearTimeout(w.timer);
      if (msg.error !== undefined) w.reject(new Error(msg.error));
      else w.resolve(msg.value);
    }
  });
  send({ type: TYPE, op: 'ready' } satisfies Msg);
  return {
    answer(name, part) {
      parts.set(name, part);
    },
    ask: (name) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`the primary process did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
        waiting.set(id, { resolve, reject, timer });
        send({ type: TYPE, op: 'ask', name, id } satisfies Msg);
      }),
  };
}
