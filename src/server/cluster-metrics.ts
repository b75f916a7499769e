import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';

/**
 * With WORKERS > 1 a scrape lands on one worker, whose counters hold only what it served. The
 * worker asks the primary, which collects every live worker's metrics as JSON and merges them
 * with prom-client's aggregation: counters and histograms summed; gauges that describe shared
 * state declare `aggregator: 'first'` (or 'max') so they are reported once. prom-client's own
 * `clusterMetrics()` waits for every worker and fails the whole scrape after 5 s when one has
 * just died or not yet started; here a worker that does not answer within `collectTimeoutMs`
 * is left out and counted in `modelgate_metrics_workers_missing`, so a scrape always answers.
 */

const READY = 'modelgate:metrics-ready';
const SCRAPE = 'modelgate:metrics-scrape';
const COLLECT = 'modelgate:metrics-collect';
const PART = 'modelgate:metrics-part';
const RESULT = 'modelgate:metrics-result';

type Msg = { type?: string; id?: number; metrics?: client.MetricObjectWithValues<client.MetricValue<string>>[]; text?: string; error?: string };

/** Primary side: the registry of its own metrics (workers alive, restarts), and the IPC answerer. */
export function serveClusterMetrics(opts: { collectTimeoutMs?: number } = {}) {
  const timeoutMs = opts.collectTimeoutMs ?? 2000;
  const registry = new client.Registry();
  const ready = new Set<number>();
  const restarts = new client.Counter({ name: 'modelgate_worker_restarts_total', help: 'Workers that died and were replaced since the server started', registers: [registry] });
  new client.Gauge({
    name: 'modelgate_workers',
    help: 'Worker processes alive and answering metrics',
    registers: [registry],
    collect() {
      this.set(ready.size);
    },
  });
  const missing = new client.Gauge({ name: 'modelgate_metrics_workers_missing', help: 'Workers that did not answer the last scrape in time (their counts are not in it)', registers: [registry] });
  let nextId = 0;
  const collecting = new Map<number, { parts: Msg['metrics'][]; waiting: Set<number>; finish: () => void }>();

  const collect = (): Promise<string> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const targets = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected() && ready.has(w.id));
      const state = { parts: [] as Msg['metrics'][], waiting: new Set(targets.map((w) => w.id)), finish: () => undefined as void };
      const done = async () => {
        clearTimeout(timer);
        collecting.delete(id);
        missing.set(state.waiting.size);
        const own = await registry.getMetricsAsJSON();
        resolve(client.AggregatorRegistry.aggregate([...state.parts.filter((p) => p !== undefined), own] as never).metrics());
      };
      state.finish = () => void done();
      const timer = setTimeout(state.finish, timeoutMs);
      collecting.set(id, state);
      for (const w of targets) w.send({ type: COLLECT, id });
      if (targets.length === 0) state.finish();
    });

  cluster.on('message', (worker: Worker, msg: Msg) => {
    if (msg?.type === READY) ready.add(worker.id);
    else if (msg?.type === PART && msg.id !== undefined) {
      const c = collecting.get(msg.id);
      if (!c || !c.waiting.delete(worker.id)) return;
      c.parts.push(msg.metrics);
      if (c.waiting.size === 0) c.finish();
    } else if (msg?.type === SCRAPE && msg.id !== undefined) {
      collect().then(
        (text) => worker.isConnected() && worker.send({ type: RESULT, id: msg.id, text }),
        (e: Error) => worker.isConnected() && worker.send({ type: RESULT, id: msg.id, error: e.message }),
      );
    }
  });
  cluster.on('exit', (worker) => {
    ready.delete(worker.id);
    // A worker that dies mid-collection will never answer: stop waiting for it.
    for (const c of collecting.values()) if (c.waiting.delete(worker.id) && c.waiting.size === 0) c.finish();
  });
  return { registry, workerRestarted: () => restarts.inc() };
}

/** Worker side: answer the primary's collections from `registry`; returns the scrape function for /metrics. */
export function joinClusterMetrics(registry: client.Registry, timeoutMs = 10_000): () => Promise<string> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('joinClusterMetrics needs an IPC channel to the primary (cluster worker)');
  let nextId = 0;
  const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  process.on('message', (msg: Msg) => {
    if (msg?.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: PART, id: msg.id, metrics }),
        () => send({ type: PART, id: msg.id, metrics: [] }),
      );
    } else if (msg?.type === RESULT && msg.id !== undefined) {
      const w = waiting.get(msg.id);
      if (!w) return;
      waiting.delete(msg.id);
      clearTimeout(w.timer);
      if (msg.error !== undefined) w.reject(new Error(msg.error));
      else w.resolve(msg.text ?? '');
    }
  });
  send({ type: READY });
  return () =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary process did not answer a metrics scrape within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      waiting.set(id, { resolve, reject, timer });
      send({ type: SCRAPE, id });
    });
}
