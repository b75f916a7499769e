import client from 'prom-client';
import type { DataDiskProbe, DiskUsage } from '../lib/disk-space.js';
import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify';
import { routeHooks } from '../lib/route-hooks.js';
import { BoundCounter, BoundHistogram } from './bound-metrics.js';

/** One registry per app instance, so several apps in one process (tests) never collide. */
export interface MetricsSources {
  auditDepth?: () => number;
  /** Loaded versions and the aliases pointing at each, read at scrape time. */
  loaded?: () => { model: string; version: number; aliases: string[]; engine: string }[];
  /** Canary percent per model as this process routes it. */
  canaryPercents?: () => { model: string; percent: number }[];
  /** Webhook deliveries in the dead-letter queue, counted in the database at scrape time. */
  deadLetters?: () => Promise<number>;
  /** Whether /readyz would answer 200 now. */
  ready?: () => boolean;
  /** The container's CPU (cores) and memory (bytes) limits, when it has any. */
  limits?: () => { cpuCores?: number; memoryBytes?: number };
  /** The data directory (SQLite database, artifacts, audit spill files) and its file system's size and free space. */
  dataDisk?: DataDiskProbe;
}

export function createMetrics(sources: MetricsSources = {}) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new BoundHistogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const predictions = new BoundCounter({
    name: 'modelgate_predictions_total',
    help: 'Predictions served, by model, version, decision, arm (production, canary, pinned) and engine (compiled, onnxruntime)',
    labelNames: ['model', 'version', 'decision', 'arm', 'engine'] as const,
    registers: [registry],
  });
  const inferenceDuration = new BoundHistogram({
    name: 'modelgate_inference_duration_seconds',
    help: "Time from a validated request to its score: the wait for its version's micro-batch run and the run, not other versions' runs in the same turn; by engine (compiled, onnxruntime)",
    labelNames: ['model', 'version', 'arm', 'engine'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const modelLoaded = new client.Gauge({
    name: 'modelgate_model_loaded',
    help: '1 for each model version loaded, labelled with the aliases pointing at it and the engine serving it',
    labelNames: ['model', 'version', 'alias', 'engine'] as const,
    registers: [registry],
    // With WORKERS > 1: shared state, reported once (1 when any worker has it loaded), not summed.
    aggregator: 'max',
    collect() {
      this.reset();
      for (const l of sources.loaded?.() ?? []) {
        for (const alias of l.aliases.length ? l.aliases : ['']) this.set({ model: l.model, version: String(l.version), alias, engine: l.engine }, 1);
      }
    },
  });
  const modelLoadFailures = new client.Counter({
    name: 'modelgate_model_load_failures_total',
    help: 'Model versions that failed to load (corrupt artifact, bad graph)',
    labelNames: ['model', 'version'] as const,
    registers: [registry],
  });
  const canaryPercent = new client.Gauge({
    name: 'modelgate_rollout_canary_percent',
    help: 'Share of unpinned traffic sent to the canary, per model',
    labelNames: ['model'] as const,
    registers: [registry],
    aggregator: 'first',
    collect() {
      this.reset();
      for (const c of sources.canaryPercents?.() ?? []) this.set({ model: c.model }, c.percent);
    },
  });
  new client.Gauge({
    name: 'modelgate_ready',
    help: '1 while /readyz answers 200 (models loaded, not draining), else 0; changes() of it shows flapping',
    registers: [registry],
    aggregator: 'min',
    collect() {
      if (sources.ready) this.set(sources.ready() ? 1 : 0);
    },
  });
  // Labelled, so that without a limit the series is absent (an unlabelled gauge would read 0).
  const limitGauge = (name: string, help: string, pick: (l: { cpuCores?: number; memoryBytes?: number }) => number | undefined) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['source'] as const,
      registers: [registry],
      aggregator: 'first',
      collect() {
        this.reset();
        const v = sources.limits ? pick(sources.limits()) : undefined;
        if (v !== undefined) this.set({ source: 'cgroup' }, v);
      },
    });
  limitGauge('modelgate_container_cpu_limit_cores', 'CPU the container may use (cgroup cpu.max), for alerts on process_cpu_seconds_total against it; absent without a limit', (l) => l.cpuCores);
  limitGauge(
    'modelgate_container_memory_limit_bytes',
    'Memory the container may use (cgroup memory.max), for alerts on process_resident_memory_bytes against it; absent without a limit',
    (l) => l.memoryBytes,
  );
  // Labelled with the directory, so the series is absent when the file system cannot be asked.
  const diskGauge = (name: string, help: string, pick: (u: DiskUsage) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['path'] as const,
      registers: [registry],
      aggregator: 'first',
      collect() {
        this.reset();
        const d = sources.dataDisk?.();
        if (d?.usage) this.set({ path: d.dir }, pick(d.usage));
      },
    });
  diskGauge(
    'modelgate_data_dir_free_bytes',
    'Bytes still writable on the file system holding MODELGATE_DATA_DIR (SQLite database, artifacts, audit spill files); at 0 changes are refused and audit records lost',
    (u) => u.freeBytes,
  );
  diskGauge('modelgate_data_dir_size_bytes', 'Size of the file system holding MODELGATE_DATA_DIR', (u) => u.sizeBytes);
  const rolloutEvents = new client.Counter({
    name: 'modelgate_rollout_events_total',
    help: 'Rollout transitions applied by this process (start, step, percent, stop, promote, rollback, shadow_start, shadow_stop, shadow_restart)',
    labelNames: ['model', 'event'] as const,
    registers: [registry],
  });
  const shadowDropped = new client.Counter({
    name: 'modelgate_shadow_dropped_total',
    help: 'Shadow copies dropped because the shadow queue was full',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const analysisRuns = new client.Counter({
    name: 'modelgate_rollout_analysis_runs_total',
    help: 'Canary analysis ticks by result: leader (analysed), follower (another replica leads), error',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const analysisDuration = new client.Histogram({
    name: 'modelgate_rollout_analysis_duration_seconds',
    help: 'Duration of canary analysis ticks',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const rateLimited = new client.Counter({
    name: 'modelgate_rate_limited_total',
    help: 'Requests refused with 429, by API key (or service token) id; every JWT caller as key="jwt" (the access log names the subject)',
    labelNames: ['key'] as const,
    registers: [registry],
  });
  const previousSecret = new client.Counter({
    name: 'modelgate_previous_secret_requests_total',
    help: 'Requests authenticated by a secret being replaced (secret: MODELGATE_ADMIN_TOKEN_PREVIOUS or JWT_SECRET_PREVIOUS): unset it once this stops growing',
    labelNames: ['secret'] as const,
    registers: [registry],
  });
  const rateLimiterFallbacks = new client.Counter({
    name: 'modelgate_rate_limiter_fallback_total',
    help: 'Rate-limit checks Redis could not answer, by the failure policy applied (open: allowed, closed: 503)',
    labelNames: ['policy'] as const,
    registers: [registry],
  });
  // Counted on every /v1/infer: a bound counter (bound-metrics.ts), not prom-client's per-call label hashing.
  const cacheHits = new BoundCounter({
    name: 'modelgate_cache_hits_total',
    help: 'Rows answered from the prediction cache',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const cacheMisses = new BoundCounter({
    name: 'modelgate_cache_misses_total',
    help: 'Rows the prediction cache did not hold (scored by the model)',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const auditRecords = new client.Counter({
    name: 'modelgate_audit_records_total',
    help: 'Audit records by outcome: written (directly), spilled (to disk while the database was down), replayed (from disk), lost (neither written nor spilled: the spill disk was full too)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const auditTrimmed = new client.Counter({
    name: 'modelgate_audit_payloads_trimmed_total',
    help: "Payloads above AUDIT_PAYLOAD_MAX_BYTES, by model and what the audit log kept of them: features (the version's features only) or hash (their SHA-256: even those were above the limit)",
    labelNames: ['model', 'kept'] as const,
    registers: [registry],
  });
  const auditQueue = new client.Gauge({
    name: 'modelgate_audit_queue_depth',
    help: 'Audit records waiting in memory to be written',
    registers: [registry],
    collect() {
      this.set(sources.auditDepth?.() ?? 0);
    },
  });
  // Monitoring gauges describe the cluster's latest report: with WORKERS > 1 reported once, not summed.
  const gauge = (name: string, help: string, labelNames: string[], aggregator: 'first' | 'max' = 'first') => new client.Gauge({ name, help, labelNames, registers: [registry], aggregator });
  const monitor = {
    featurePsi: gauge('modelgate_feature_psi', 'PSI of each feature in the latest monitoring window against the reference profile', ['model', 'feature']),
    predictionPsi: gauge('modelgate_prediction_psi', 'PSI of the score distribution in the latest monitoring window against the reference', ['model']),
    driftedShare: gauge('modelgate_drifted_feature_share', 'Share of monitored features with PSI above 0.2 in the latest monitoring window', ['model']),
    rocAuc: gauge('modelgate_model_roc_auc', 'ROC AUC from joined feedback in the latest monitoring window', ['model', 'version']),
    brier: gauge('modelgate_model_brier', 'Brier score from joined feedback in the latest monitoring window', ['model', 'version']),
    mae: gauge('modelgate_model_mae', 'Regression models: mean absolute error against the real values reported as feedback, latest monitoring window', ['model', 'version']),
    accuracy: gauge('modelgate_model_accuracy', 'Multiclass models: share of predictions whose class matched the reported real class, latest monitoring window', ['model', 'version']),
    actionRate: gauge('modelgate_action_rate', 'Share of predictions with an acting decision in the latest monitoring window', ['model']),
    actionRate7d: gauge('modelgate_action_rate_7d_avg', 'Share of predictions with an acting decision over the trailing 7 days', ['model']),
    realizedProfit: gauge('modelgate_realized_profit', 'Profit realised under the cost matrix over the labelled predictions of the latest window', ['model']),
    lastRun: gauge('modelgate_monitor_last_run_timestamp_seconds', 'When the latest monitoring report of a model was made (Unix seconds)', ['model'], 'max'),
    alert: gauge('modelgate_monitor_alert', '1 while an alert flag of the latest monitoring report fires, else 0', ['model', 'alert']),
    runs: new client.Counter({ name: 'modelgate_monitor_runs_total', help: 'Scheduled monitor ticks by result (ok, error, follower)', labelNames: ['result'] as const, registers: [registry] }),
    duration: new client.Histogram({
      name: 'modelgate_monitor_duration_seconds',
      help: 'Duration of scheduled monitoring runs',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
  const webhooks = {
    deliveries: new client.Counter({
      name: 'modelgate_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, failed (will retry), dead (dead-lettered), disabled (410 Gone)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    dlq: new client.Gauge({
      name: 'modelgate_webhook_dlq_size',
      help: 'Webhook deliveries in the dead-letter queue (cluster-wide, read from the database when scraped)',
      registers: [registry],
      aggregator: 'first',
      async collect() {
        // An unreachable database leaves the last value rather than failing the whole scrape.
        const n = await sources.deadLetters?.().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    }),
  };
  return {
    monitor,
    webhooks,
    registry,
    auditRecords,
    auditTrimmed,
    auditQueue,
    cacheHits,
    cacheMisses,
    httpDuration,
    predictions,
    inferenceDuration,
    modelLoaded,
    modelLoadFailures,
    canaryPercent,
    rolloutEvents,
    shadowDropped,
    analysisRuns,
    analysisDuration,
    rateLimited,
    rateLimiterFallbacks,
    previousSecret,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Request durations by method, route and status. Each route gets its own onResponse hook with
 * its path fixed when it is added (Fastify builds `request.routeOptions` afresh on every read);
 * requests no route matched are observed by the app's onResponse hook through the returned
 * function. Install before any route is added.
 */
export function installHttpMetrics(app: FastifyInstance, metrics: Metrics): (request: FastifyRequest, reply: FastifyReply) => void {
  // Label sets are few (method × route × status); a route's series are found by method and status.
  const observer = (route: string) => {
    const children = new Map<string, { observe(seconds: number): void }>();
    return (request: FastifyRequest, reply: FastifyReply) => {
      const key = `${request.method} ${reply.statusCode}`;
      let child = children.get(key);
      if (!child) {
        child = metrics.httpDuration.labels({ method: request.method, route, status_code: String(reply.statusCode) });
        children.set(key, child);
      }
      child.observe(reply.elapsedTime / 1000);
    };
  };
  app.addHook('onRoute', (route) => {
    const observe = observer(route.url);
    const hook: onResponseHookHandler = (request, reply, done) => {
      observe(request, reply);
      done();
    };
    route.onResponse = [...routeHooks(route.onResponse), hook];
  });
  return observer('unmatched');
}
