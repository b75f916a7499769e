import { errorMessage } from '../lib/errors.js';
import { systemTimers, type Timers } from '../lib/clock.js';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import os from 'node:os';
import { predictionId } from '../lib/ids.js';
import { ModelPool, OffThreadScorer, PredictionCache, RunGate, type RegistrySource } from '../inference/index.js';
import { createLeader, RolloutRuntime, type RolloutService } from '../rollout/index.js';
import { ApiKeyAuthenticator, createRateLimiter, type RateLimiter } from '../access/index.js';
import { AuditWriter, createAuditRecorder, RetentionJob } from '../audit/index.js';
import { MonitorJob, monitorGauges } from '../monitoring/index.js';
import { createWebhookStore, DeliveryWorker } from '../webhooks/index.js';
import { parseDuration } from '../lib/duration.js';
import path from 'node:path';
import type { Logger } from '../lib/logger.js';
import { buildApp } from './app.js';
import type { Authenticator } from './auth.js';
import { openContext, type Context, type ContextOverrides } from './context.js';
import { createMetrics } from './metrics.js';
import { joinClusterMetrics } from './cluster-metrics.js';
import { containerLimits } from './container-limits.js';
import { readiness } from './health.js';
import cluster from 'node:cluster';

export interface RunningServer {
  app: FastifyInstance;
  ctx: Context;
  pool: ModelPool;
  rollouts: RolloutService;
  runtime: RolloutRuntime;
  apiKeys: ApiKeyAuthenticator;
  limiter: RateLimiter;
  audit: AuditWriter;
  monitorJob: MonitorJob;
  webhookWorker: DeliveryWorker;
  /** http://host:port actually bound (port 0 picks a free one). */
  url: string;
  /** Fail readiness from now on, keep serving; call before close() to let load balancers move away. */
  drain(): void;
  close(): Promise<void>;
}

/** Open state, migrate, load production models, build the app; listen unless told not to. */
export async function startServer(
  config: Config,
  log: Logger,
  opts: ContextOverrides & {
    listen?: boolean;
    /** false: no background jobs (tests drive ticks) */ jobs?: boolean;
    authenticators?: Authenticator[];
    /** Runs just before listening (frees the port a waiting room holds). */ beforeListen?: () => Promise<void>;
    /** Timers for every background loop (tests advance them by hand). */ timers?: Timers;
  } = {},
): Promise<RunningServer> {
  const ctx = await openContext(config, log, opts);
  // The gauges read the pool at scrape time, after both exist.
  const metrics = createMetrics({
    loaded: () => pool.loadedVersions(),
    canaryPercents: () => pool.canaryPercents(),
    auditDepth: () => audit.depth,
    deadLetters: () => ctx.webhooks.dlqSize(),
    ready: () => readiness({ pool, draining: () => draining }).reasons.length === 0,
    limits: () => containerLimits(),
  });
  const audit = new AuditWriter({
    store: ctx.audit,
    log,
    spillDir: path.join(config.dataDir, 'audit-spill'),
    flushMs: config.AUDIT_FLUSH_MS,
    batchRows: config.AUDIT_BATCH_ROWS,
    queueMax: config.AUDIT_QUEUE_MAX,
    onWritten: (n, via) => metrics.auditRecords.inc({ result: via === 'direct' ? 'written' : 'replayed' }, n),
    onSpilled: (n) => metrics.auditRecords.inc({ result: 'spilled' }, n),
    onLost: (n) => metrics.auditRecords.inc({ result: 'lost' }, n),
    timers: opts.timers,
  });
  const sink = config.AUDIT_LOG ? createAuditRecorder(audit, config.AUDIT_FEATURES) : undefined;
  // Records a previous run spilled (database down, then a crash or restart) go in first.
  if (config.AUDIT_LOG) await ctx.audit.ready();
  await audit.replay().catch((e) => log.warn({ err: (e as Error).message }, 'replaying spilled audit records failed; retrying in the background'));
  const retention = new RetentionJob({ store: ctx.audit, clock: ctx.clock, log, retentionDays: config.PREDICTION_RETENTION_DAYS, intervalMs: 3_600_000, timers: opts.timers });
  const rollouts = ctx.rollouts;
  const rolloutStore = rollouts.store;
  rollouts.onTransition((model, event) => metrics.rolloutEvents.inc({ model, event }));
  const source: RegistrySource = {
    ...ctx.registry.source,
    rollouts: async () =>
      (await rolloutStore.list()).map((r) => ({
        model: r.model,
        canary_version: r.canary_version,
        canary_percent: r.canary_percent,
        shadow_version: r.shadow_version,
        shadow_percent: r.shadow_percent,
        salt: `${r.model}:${r.started_at ?? ''}`,
      })),
  };
  const pool: ModelPool = new ModelPool({
    source,
    runtime: {
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
      // One gate for every loaded version: their runs take turns instead of running back to back.
      batch: { maxRows: config.BATCH_MAX_ROWS, maxWaitUs: config.BATCH_MAX_WAIT_US, gate: new RunGate() },
      engine: config.INFERENCE_ENGINE,
      onEngineFallback: (spec, reason) => log.info({ model: spec.model, version: spec.version, engine: 'onnxruntime', reason }, 'this version serves on onnxruntime, not the compiled engine'),
      packInputs: config.ONNX_PACK_INPUTS,
      onPackFallback: (spec, reason) => log.warn({ model: spec.model, version: spec.version, reason }, 'input packing not used for this version; its inputs are fed one by one'),
    },
    log,
    maxLoaded: config.MAX_LOADED_VERSIONS,
    clock: ctx.clock,
    timers: opts.timers,
    events: {
      loadFailed: (model, version) => metrics.modelLoadFailures.inc({ model, version: String(version) }),
      loaded: (model, version, engine) =>
        void ctx.registry.recordEngine(model, version, engine).catch((e: unknown) => log.warn({ model, version, err: errorMessage(e) }, 'could not record the engine of a loaded version')),
    },
  });
  try {
    await pool.refresh(true);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'initial model load failed; retrying in the background');
  }
  pool.start(config.RELOAD_INTERVAL_MS);
  const replica = config.REPLICA_ID ?? `${os.hostname()}:${process.pid}`;
  const runtime = new RolloutRuntime({
    store: rolloutStore,
    service: rollouts,
    // The lease outlives one interval, so a live leader keeps it and a dead one loses it within two.
    leader: createLeader(ctx.db, 'canary-analysis', replica, Math.round(config.ANALYSIS_INTERVAL_MS * 1.5), log),
    clock: ctx.clock,
    log,
    replica,
    flushIntervalMs: config.STATS_FLUSH_INTERVAL_MS,
    analysisIntervalMs: config.ANALYSIS_INTERVAL_MS,
    shadowQueueMax: config.SHADOW_QUEUE_MAX,
    scorer: new OffThreadScorer(async (model, version) => {
      const found = await source.fetch(model, version);
      return found && { bytes: found.bytes, spec: found.spec };
    }),
    statsRetentionMs: 7 * 86_400_000,
    timers: opts.timers,
    onShadowDropped: (model) => metrics.shadowDropped.inc({ model }),
    onShadowScored: (r) =>
      sink?.predicted({
        id: predictionId(),
        model: r.model,
        version: r.version,
        arm: 'shadow',
        eventId: r.request?.eventId,
        payload: r.request?.payload ?? null,
        row: r.row,
        score: r.score,
        decision: r.decision,
        latencyMs: r.latencyMs,
        cached: false,
        keyId: r.request?.keyId,
      }),
    onAnalysis: (result, seconds) => {
      metrics.analysisRuns.inc({ result });
      metrics.analysisDuration.observe(seconds);
    },
  });
  const monitorJob = new MonitorJob({
    monitoring: ctx.monitoring,
    leader: createLeader(ctx.db, 'monitor', replica, Math.max(3 * config.MONITOR_TICK_MS, 60_000), log),
    clock: ctx.clock,
    log,
    intervalMs: parseDuration(config.MONITOR_INTERVAL, 'MONITOR_INTERVAL'),
    windowMs: parseDuration(config.MONITOR_WINDOW, 'MONITOR_WINDOW'),
    tickMs: config.MONITOR_TICK_MS,
    gauges: monitorGauges(metrics.monitor),
    onReport: (report) => ctx.retrain.onReport(report),
    timers: opts.timers,
  });
  const webhookWorker = new DeliveryWorker({
    store: createWebhookStore(ctx.db),
    // Renewed every tick (a tick never waits on receivers), so a short lease hands over quickly after a crash.
    leader: createLeader(ctx.db, 'webhook-delivery', replica, Math.max(5 * config.WEBHOOK_TICK_MS, 2000), log),
    clock: ctx.clock,
    log,
    retrySchedule: config.WEBHOOK_RETRY_SCHEDULE.split(',').map((d) => parseDuration(d.trim(), 'WEBHOOK_RETRY_SCHEDULE')),
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    tickMs: config.WEBHOOK_TICK_MS,
    onDelivery: (status) => metrics.webhooks.deliveries.inc({ status }),
    timers: opts.timers,
  });
  const limiter = createRateLimiter({ redisUrl: config.REDIS_URL, onFailure: config.RATE_LIMIT_FAIL, log, onFallback: (policy) => metrics.rateLimiterFallbacks.inc({ policy }) });
  if (!(await limiter.ready(2000))) log.warn({ backend: limiter.backend }, `Redis is not reachable yet; rate limits fail ${config.RATE_LIMIT_FAIL} until it is`);
  const apiKeys = new ApiKeyAuthenticator({ access: ctx.access, clock: ctx.clock, log, pollMs: config.RELOAD_INTERVAL_MS, timers: opts.timers });
  await apiKeys.sync().catch(() => undefined);
  if (opts.jobs !== false) {
    runtime.start();
    apiKeys.start();
    audit.start();
    retention.start();
    monitorJob.start();
    webhookWorker.start();
  }
  // Counter children per model, so a cache lookup does no label hashing.
  const hitChildren = new Map<string, { inc(): void }>();
  const missChildren = new Map<string, { inc(): void }>();
  const cacheCounter = (children: Map<string, { inc(): void }>, counter: typeof metrics.cacheHits, model: string) => {
    let c = children.get(model);
    if (!c) {
      c = counter.labels({ model });
      children.set(model, c);
    }
    return c;
  };
  let draining = false;
  const app = await buildApp({
    config,
    log,
    registry: ctx.registry,
    rollouts,
    access: ctx.access,
    accessChanged: () => apiKeys.sync(),
    ...(sink ? { sink } : {}),
    cache: new PredictionCache({
      maxItems: config.CACHE_MAX_ITEMS,
      ttlMs: config.CACHE_TTL_MS,
      onHit: (model) => cacheCounter(hitChildren, metrics.cacheHits, model).inc(),
      onMiss: (model) => cacheCounter(missChildren, metrics.cacheMisses, model).inc(),
    }),
    limiter,
    clock: ctx.clock,
    auditStore: ctx.audit,
    monitoring: ctx.monitoring,
    webhooks: ctx.webhooks,
    feedback: ctx.feedback,
    flushAudit: () => audit.flush(),
    observer: runtime,
    pool,
    metrics,
    // A cluster worker's /metrics reports the whole server (every worker summed by the primary).
    ...(cluster.isWorker && process.send ? { scrapeMetrics: joinClusterMetrics(metrics.registry) } : {}),
    draining: () => draining,
    authenticators: [apiKeys, ...(opts.authenticators ?? [])],
  });
  let url = '';
  if (opts.listen !== false) {
    await opts.beforeListen?.();
    url = await app.listen({ port: config.PORT, host: config.HOST });
  }
  return {
    app,
    ctx,
    pool,
    rollouts,
    runtime,
    apiKeys,
    limiter,
    audit,
    monitorJob,
    webhookWorker,
    url,
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      // A keep-alive connection whose last response was still being written when close() began
      // is not idle yet, so one sweep misses it; keep sweeping until the server has closed.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      // A client that never finishes its request must not hold shutdown forever.
      const timers = opts.timers ?? systemTimers;
      const cut = timers.setTimeout(() => {
        log.warn({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'connections still open after SHUTDOWN_GRACE_MS; closing them');
        app.server.closeAllConnections();
      }, config.SHUTDOWN_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
        timers.clearTimeout(cut);
      }
      // Every accepted request has been answered: now write (or spill) every record it made.
      await retention.stop();
      await monitorJob.stop();
      // A planned retrain started by the monitor finishes (or fails) before the database closes.
      await ctx.retrain.idle();
      await webhookWorker.stop();
      // Shadow copies still being scored record their results: stop them before the audit log's last write.
      await runtime.stop();
      await audit.close();
      await apiKeys.stop();
      await limiter.close();
      await pool.stop();
      await ctx.close();
    },
  };
}
