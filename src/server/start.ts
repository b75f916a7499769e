import { systemTimers, type Timers } from '../lib/clock.js';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { ModelPool } from '../inference/index.js';
import type { RolloutRuntime, RolloutService } from '../rollout/index.js';
import { ApiKeyAuthenticator, createRateLimiter, redisSettings, type RateLimiter } from '../access/index.js';
import type { AuditWriter } from '../audit/index.js';
import type { MonitorJob } from '../monitoring/index.js';
import type { DeliveryWorker } from '../webhooks/index.js';
import type { Logger } from '../lib/logger.js';
import { buildApp } from './app.js';
import type { Authenticator } from './auth.js';
import { diskUsage } from '../lib/disk-space.js';
import { openContext, type Context, type ContextOverrides } from './context.js';
import { createMetrics } from './metrics.js';
import { joinClusterMetrics } from './cluster-metrics.js';
import { joinClusterGather } from './cluster-gather.js';
import { containerLimits } from '../lib/container-limits.js';
import { readiness } from './health.js';
import { auditParts, modelPool, monitorJob as createMonitorJob, predictionCache, registrySource, rolloutRuntime, webhookWorker as createWebhookWorker } from './components.js';
import cluster from 'node:cluster';
import { listenFailure } from './listen-error.js';

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
  const dataDisk = () => ({ dir: config.dataDir, usage: diskUsage(config.dataDir) });
  const metrics = createMetrics({
    loaded: () => pool.loadedVersions(),
    canaryPercents: () => pool.canaryPercents(),
    auditDepth: () => audit.depth,
    deadLetters: () => ctx.webhooks.dlqSize(),
    ready: () => readiness({ pool, draining: () => draining }).reasons.length === 0,
    limits: () => containerLimits(),
    dataDisk,
  });
  const parts = { ctx, config, log, metrics, timers: opts.timers };
  const { audit, sink, retention } = auditParts(parts);
  // Records a previous run spilled (database down, then a crash or restart) go in first.
  if (config.AUDIT_LOG) await ctx.audit.ready();
  await audit.replay().catch((e) => log.warn({ err: (e as Error).message }, 'replaying spilled audit records failed; retrying in the background'));
  const rollouts = ctx.rollouts;
  rollouts.onTransition((model, event) => metrics.rolloutEvents.inc({ model, event }));
  const source = registrySource(ctx);
  const pool = modelPool(parts, source);
  try {
    await pool.refresh(true);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'initial model load failed; retrying in the background');
  }
  pool.start(config.RELOAD_INTERVAL_MS);
  const runtime = rolloutRuntime(parts, source, sink);
  const monitorJob = createMonitorJob(parts);
  const webhookWorker = createWebhookWorker(parts);
  const limiter = createRateLimiter({
    ...redisSettings(config),
    onFailure: config.RATE_LIMIT_FAIL,
    log,
    onFallback: (policy) => metrics.rateLimiterFallbacks.inc({ policy }),
  });
  if (!(await limiter.ready(2000))) {
    const reason = limiter.unavailableReason();
    log.warn({ backend: limiter.backend, reason }, `Redis cannot count rate limits yet (${reason}); they fail ${config.RATE_LIMIT_FAIL} until it can (GET /health shows it meanwhile)`);
  }
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
  let draining = false;
  // A cluster worker's /metrics and /health report the whole server (every worker, gathered by the primary).
  const member = cluster.isWorker && process.send ? joinClusterGather() : undefined;
  const app = await buildApp({
    config,
    log,
    registry: ctx.registry,
    rollouts,
    access: ctx.access,
    accessChanged: () => apiKeys.sync(),
    ...(sink ? { sink } : {}),
    cache: predictionCache(config, metrics, ctx.clock),
    limiter,
    clock: ctx.clock,
    auditStore: ctx.audit,
    monitoring: ctx.monitoring,
    webhooks: ctx.webhooks,
    retrain: ctx.retrain,
    feedback: ctx.feedback,
    flushAudit: () => audit.flush(),
    observer: runtime,
    pool,
    metrics,
    // A cluster worker's /metrics reports the whole server (every worker summed by the primary).
    ...(member ? { cluster: member, scrapeMetrics: joinClusterMetrics(member, metrics.registry) } : {}),
    draining: () => draining,
    authenticators: [apiKeys, ...(opts.authenticators ?? [])],
    ...(ctx.db.location.kind === 'sqlite' ? { sqliteFile: ctx.db.location.file } : {}),
    dataDisk,
    auditRefusal: () => audit.refusal,
  });
  const running: Omit<RunningServer, 'drain' | 'close'> = { app, ctx, pool, rollouts, runtime, apiKeys, limiter, audit, monitorJob, webhookWorker, url: '' };
  if (opts.listen !== false) {
    await opts.beforeListen?.();
    try {
      running.url = await app.listen({ port: config.PORT, host: config.HOST });
    } catch (e) {
      // Nothing was served: stop what started, so the process can exit with the reason.
      await stopJobs(running);
      throw listenFailure(e, config.HOST, config.PORT);
    }
  }
  return {
    ...running,
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      await closeConnections(app, config, log, opts.timers ?? systemTimers);
      // Every accepted request has been answered: now write (or spill) every record it made.
      await retention.stop();
      await stopJobs(running);
    },
  };
}

/** Stop accepting, answer what was accepted, and cut connections still open after SHUTDOWN_GRACE_MS. */
async function closeConnections(app: FastifyInstance, config: Config, log: Logger, timers: Timers): Promise<void> {
  // A keep-alive connection whose last response was still being written when close() began
  // is not idle yet, so one sweep misses it; keep sweeping until the server has closed.
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
  // A client that never finishes its request must not hold shutdown forever.
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
}

/** Stop the background work in the order its writes depend on, then close the databases. */
async function stopJobs(s: Omit<RunningServer, 'drain' | 'close'>): Promise<void> {
  await s.monitorJob.stop();
  // A planned retrain is stopped, not waited for (training can outlast the grace period), and
  // recorded as interrupted before the database closes; the plan runs it again at the next
  // report that recommends it.
  await s.ctx.retrain.stop('the server shut down while it trained; nothing was registered, and the plan runs it again at the next report that recommends retraining');
  await s.webhookWorker.stop();
  // Shadow copies still being scored record their results: stop them before the audit log's last write.
  await s.runtime.stop();
  await s.audit.close();
  await s.apiKeys.stop();
  await s.limiter.close();
  await s.pool.stop();
  await s.ctx.close();
}
