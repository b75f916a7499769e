import client from 'prom-client';
import type { FastifyInstance } from 'fastify';

/** One registry per app instance, so several apps in one process (tests) never collide. */
export interface MetricsSources {
  /** Loaded versions and the aliases pointing at each, read at scrape time. */
  loaded?: () => { model: string; version: number; aliases: string[] }[];
}

export function createMetrics(sources: MetricsSources = {}) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const predictions = new client.Counter({
    name: 'modelgate_predictions_total',
    help: 'Predictions served, by model, version and decision',
    labelNames: ['model', 'version', 'decision'] as const,
    registers: [registry],
  });
  const inferenceDuration = new client.Histogram({
    name: 'modelgate_inference_duration_seconds',
    help: 'Time from a validated request to its score, including micro-batch wait',
    labelNames: ['model', 'version'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const modelLoaded = new client.Gauge({
    name: 'modelgate_model_loaded',
    help: '1 for each model version loaded in this process, labelled with the aliases pointing at it',
    labelNames: ['model', 'version', 'alias'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const l of sources.loaded?.() ?? []) {
        for (const alias of l.aliases.length ? l.aliases : ['']) this.set({ model: l.model, version: String(l.version), alias }, 1);
      }
    },
  });
  const modelLoadFailures = new client.Counter({
    name: 'modelgate_model_load_failures_total',
    help: 'Model versions that failed to load (corrupt artifact, bad graph)',
    labelNames: ['model', 'version'] as const,
    registers: [registry],
  });
  return { registry, httpDuration, predictions, inferenceDuration, modelLoaded, modelLoadFailures };
}

export type Metrics = ReturnType<typeof createMetrics>;

export function installHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  // Label sets are few (method × route × status); caching their children skips prom-client's
  // per-call label validation and hashing on the hot path.
  const children = new Map<string, client.Histogram.Internal<'method' | 'route' | 'status_code'>>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${route} ${reply.statusCode}`;
    let child = children.get(key);
    if (!child) {
      child = metrics.httpDuration.labels({ method: request.method, route, status_code: String(reply.statusCode) });
      children.set(key, child);
    }
    child.observe(reply.elapsedTime / 1000);
    done();
  });
}
