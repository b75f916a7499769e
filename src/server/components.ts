import os from 'node:os';
import path from 'node:path';
import { systemClock, type Clock, type Timers } from '../lib/clock.js';
import type { Config } from '../config.js';
import { predictionId, shadowPredictionId } from '../lib/ids.js';
import { parseDuration, parseWindow } from '../lib/duration.js';
import type { Logger } from '../lib/logger.js';
import { ModelPool, OffThreadScorer, openReferenceOffThread, PredictionCache, RunGate, type PredictionSink, type RegistrySource } from '../inference/index.js';
import { createLeader, RolloutRuntime } from '../rollout/index.js';
import { AuditWriter, createAuditRecorder, RetentionJob } from '../audit/index.js';
import { createMonitoringStore, MonitorJob, monitorGauges } from '../monitoring/index.js';
import { createWebhookStore, DeliveryWorker } from '../webhooks/index.js';
import { describeDbError, type Context } from './context.js';
import type { Metrics } from './metrics.js';

/**
 * The long-lived parts of a server, each built from the context, the config and the metrics
 * it reports to. `timers` drive every background loop (tests advance them by hand).
 */
interface Parts {
  ctx: Context;
  config: Config;
  log: Logger;
  metrics: Metrics;
  timers: Timers | undefined;
}

/** This server's name in cluster statistics. */
export const replicaId = (config: Config): string => config.REPLICA_ID ?? `${os.hostname()}:${process.pid}`;

/**
 * The name this process holds leases under: its own, even when REPLICA_ID names the pod and
 * WORKERS runs several processes in it (each would otherwise renew the others' lease and lead).
 */
const leaseHolder = (config: Config): string => (config.REPLICA_ID ? `${config.REPLICA_ID}:${process.pid}` : replicaId(config));

/** A leader for one cluster-wide job, elected as LEADER_ELECTION says. */
const leaderFor = ({ ctx, config, log }: Parts, job: string, leaseMs: number) => createLeader(ctx.db, job, leaseHolder(config), leaseMs, log, config.LEADER_ELECTION);

/** The audit writer (spilling to disk while the database is down), its recorder when the audit log is on, and retention. */
export function auditParts({ ctx, config, log, metrics, timers }: Parts) {
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
    timers,
    describeError: describeDbError(ctx.db),
  });
  // Said once per model and process: a client that sends large payloads sends them all day.
  const warned = new Set<string>();
  const sink = config.AUDIT_LOG
    ? createAuditRecorder(audit, config.AUDIT_FEATURES, {
        maxPayloadBytes: config.AUDIT_PAYLOAD_MAX_BYTES,
        onTrimmed: (model, bytes, kept) => {
          metrics.auditTrimmed.inc({ model, kept: kept ? 'features' : 'hash' });
          if (warned.has(model)) return;
          warned.add(model);
          log.warn(
            { model, bytes, limit: config.AUDIT_PAYLOAD_MAX_BYTES },
            `a ${model} payload of ${bytes} bytes is above AUDIT_PAYLOAD_MAX_BYTES: the audit log keeps ${kept ? "only the version's features" : 'only the SHA-256 of its features (even they are above the limit)'} of such payloads (counted in modelgate_audit_payloads_trimmed_total; said once per model)`,
          );
        },
      })
    : undefined;
  // SQLite deletes on the request thread: 5,000 rows took it 12–40 ms a batch, 500 rows 1–1.5 ms (measured).
  const batch = ctx.db.dialect === 'sqlite' ? 500 : 5000;
  const reports = createMonitoringStore(ctx.db);
  const retention = new RetentionJob({
    store: ctx.audit,
    // A report older than the records it was made from describes traffic no longer kept (each model's latest stays).
    alongside: [{ what: 'monitoring reports', deleteOlderThan: (cutoff, n) => reports.deleteReportsOlderThan(cutoff, n) }],
    clock: ctx.clock,
    log,
    retentionDays: config.PREDICTION_RETENTION_DAYS,
    intervalMs: 3_600_000,
    timers,
    batch,
    describeError: describeDbError(ctx.db),
  });
  return { audit, sink, retention };
}

/** What the pool loads from: the registry, plus each model's canary and shadow split from the rollout rows. */
export function registrySource(ctx: Context): RegistrySource {
  const rolloutStore = ctx.rollouts.store;
  return {
    ...ctx.registry.source,
    rollouts: async () =>
      (await rolloutStore.list()).map((r) => ({
        model: r.model,
        canary_version: r.canary_version,
        canary_percent: r.canary_percent,
        shadow_version: r.shadow_version,
        shadow_percent: r.shadow_percent,
        salt: `${r.model}:${r.started_at ?? ''}`,
        target: r.target,
      })),
  };
}

/** The pool of loaded versions, with the engine and batching settings of the config. */
export function modelPool({ ctx, config, log, metrics, timers }: Parts, source: RegistrySource): ModelPool {
  return new ModelPool({
    source,
    runtime: {
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
      // One gate for every loaded version: their runs take turns instead of running back to back.
      batch: { maxRows: config.BATCH_MAX_ROWS, maxWaitUs: config.BATCH_MAX_WAIT_US, gate: new RunGate() },
      engine: config.INFERENCE_ENGINE,
      onEngineFallback: (spec, reason) => log.info({ model: spec.model, version: spec.version, engine: 'onnxruntime', reason }, 'this version serves on onnxruntime, not the compiled engine'),
      packInputs: config.ONNX_PACK_INPUTS,
      onPackFallback: (spec, reason) => log.warn({ model: spec.model, version: spec.version, reason }, 'input packing not used for this version; its inputs are fed one by one'),
      // The check of a compiled version against onnxruntime runs its session on a thread of its own, not this one.
      openReference: openReferenceOffThread,
      onReferenceLost: (spec, reason) => log.warn({ model: spec.model, version: spec.version, reason }, 'the compiled engine was checked on the request thread: its check thread failed'),
    },
    log,
    maxLoaded: config.MAX_LOADED_VERSIONS,
    clock: ctx.clock,
    timers,
    events: {
      loadFailed: (model, version) => metrics.modelLoadFailures.inc({ model, version: String(version) }),
      loaded: (model, version, engine) =>
        void ctx.registry.recordEngine(model, version, engine).catch((e: unknown) => log.warn({ model, version, err: describeDbError(ctx.db)(e) }, 'could not record the engine of a loaded version')),
    },
  });
}

/** Arm statistics, canary analysis (on the leader) and shadow scoring off the request thread. */
export function rolloutRuntime(parts: Parts, source: RegistrySource, sink: PredictionSink | undefined): RolloutRuntime {
  const { ctx, config, log, metrics, timers } = parts;
  const replica = replicaId(config);
  return new RolloutRuntime({
    store: ctx.rollouts.store,
    service: ctx.rollouts,
    // The lease outlives one interval, so a live leader keeps it and a dead one loses it within two.
    leader: leaderFor(parts, 'canary-analysis', Math.round(config.ANALYSIS_INTERVAL_MS * 1.5)),
    clock: ctx.clock,
    log,
    replica,
    flushIntervalMs: config.STATS_FLUSH_INTERVAL_MS,
    analysisIntervalMs: config.ANALYSIS_INTERVAL_MS,
    shadowQueueMax: config.SHADOW_QUEUE_MAX,
    scorer: new OffThreadScorer(
      async (model, version) => {
        const found = await source.fetch(model, version);
        return found && { bytes: found.bytes, spec: found.spec };
      },
      { priority: config.BACKGROUND_THREAD_PRIORITY, log },
    ),
    statsRetentionMs: 7 * 86_400_000,
    timers,
    onShadowDropped: (model) => metrics.shadowDropped.inc({ model }),
    onShadowScored: (r) =>
      sink?.predicted({
        id: r.request ? shadowPredictionId(r.request.predictionId) : predictionId(),
        model: r.model,
        version: r.version,
        arm: 'shadow',
        eventId: r.request?.eventId,
        payload: r.request?.payload ?? null,
        row: r.row,
        featureNames: r.featureNames,
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
}

/** Scheduled drift reports (on the leader), feeding planned retrains. */
export function monitorJob(parts: Parts): MonitorJob {
  const { ctx, config, log, metrics, timers } = parts;
  return new MonitorJob({
    monitoring: ctx.monitoring,
    leader: leaderFor(parts, 'monitor', Math.max(3 * config.MONITOR_TICK_MS, 60_000)),
    clock: ctx.clock,
    log,
    intervalMs: parseDuration(config.MONITOR_INTERVAL, 'MONITOR_INTERVAL'),
    windowMs: parseWindow(config.MONITOR_WINDOW, 'MONITOR_WINDOW'),
    tickMs: config.MONITOR_TICK_MS,
    gauges: monitorGauges(metrics.monitor),
    onReport: (report) => ctx.retrain.onReport(report),
    timers,
    describeError: describeDbError(ctx.db),
  });
}

/** Webhook delivery from the outbox (on the leader), with retries and a dead-letter queue. */
export function webhookWorker(parts: Parts): DeliveryWorker {
  const { ctx, config, log, metrics, timers } = parts;
  return new DeliveryWorker({
    store: createWebhookStore(ctx.db),
    // Renewed every tick (a tick never waits on receivers), so a short lease hands over quickly after a crash.
    leader: leaderFor(parts, 'webhook-delivery', Math.max(5 * config.WEBHOOK_TICK_MS, 2000)),
    clock: ctx.clock,
    log,
    retrySchedule: config.WEBHOOK_RETRY_SCHEDULE.split(',').map((d) => parseDuration(d.trim(), 'WEBHOOK_RETRY_SCHEDULE')),
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    tickMs: config.WEBHOOK_TICK_MS,
    onDelivery: (status) => metrics.webhooks.deliveries.inc({ status }),
    timers,
    describeError: describeDbError(ctx.db),
  });
}

/** The prediction cache, counting hits and misses per model; entries age by the monotonic clock unless a test gives its own. */
export function predictionCache(config: Config, metrics: Metrics, clock: Clock): PredictionCache {
  // Counter children per model, so a cache lookup does no label hashing.
  const children = (counter: typeof metrics.cacheHits) => {
    const byModel = new Map<string, { inc(): void }>();
    return (model: string) => {
      let c = byModel.get(model);
      if (!c) {
        c = counter.labels({ model });
        byModel.set(model, c);
      }
      return c;
    };
  };
  const hits = children(metrics.cacheHits);
  const misses = children(metrics.cacheMisses);
  return new PredictionCache({
    maxItems: config.CACHE_MAX_ITEMS,
    ttlMs: config.CACHE_TTL_MS,
    admit: config.CACHE_ADMIT,
    now: clock === systemClock ? undefined : () => clock.now().getTime(),
    onHit: (model) => hits(model).inc(),
    onMiss: (model) => misses(model).inc(),
  });
}
