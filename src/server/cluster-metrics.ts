import client from 'prom-client';
import type { ClusterMember, Gathered } from './cluster-gather.js';

/**
 * With WORKERS > 1 a scrape lands on one worker, whose counters hold only what it served. The
 * worker asks the primary (src/server/cluster-gather.ts), which collects every live worker's
 * metrics as JSON and merges them with prom-client's aggregation: counters and histograms
 * summed; gauges that describe shared state declare `aggregator: 'first'` (or 'max') so they are
 * reported once. A worker that does not answer in time is left out and counted in
 * `modelgate_metrics_workers_missing`, so a scrape always answers.
 */

type MetricsJson = client.MetricObjectWithValues<client.MetricValue<string>>[];

/** Primary side: the registry of its own metrics (workers alive, restarts), and the combiner of workers' parts. */
export function clusterMetrics() {
  const registry = new client.Registry();
  let answering = 0;
  const restarts = new client.Counter({ name: 'modelgate_worker_restarts_total', help: 'Workers that died and were replaced since the server started', registers: [registry] });
  new client.Gauge({
    name: 'modelgate_workers',
    help: 'Worker processes alive and answering metrics',
    registers: [registry],
    collect() {
      this.set(answering);
    },
  });
  const missing = new client.Gauge({ name: 'modelgate_metrics_workers_missing', help: 'Workers that did not answer the last scrape in time (their counts are not in it)', registers: [registry] });
  return {
    registry,
    workerRestarted: () => restarts.inc(),
    async combine(gathered: Gathered): Promise<string> {
      answering = gathered.parts.length;
      missing.set(gathered.unanswered.length);
      const own = await registry.getMetricsAsJSON();
      return client.AggregatorRegistry.aggregate([...gathered.parts.map((p) => p.value as MetricsJson), own] as never).metrics();
    },
  };
}

/** Worker side: answer the primary's collections from `registry`; returns the scrape function for /metrics. */
export function joinClusterMetrics(member: ClusterMember, registry: client.Registry): () => Promise<string> {
  member.answer('metrics', () => registry.getMetricsAsJSON());
  return async () => String(await member.ask('metrics'));
}
