import { accessSync, constants } from 'node:fs';
import { mkdirPrivate } from '../lib/private-files.js';
import { ConfigError, type Config } from '../config.js';
import { openDb, migrate, type Db } from '../db/index.js';
import { connectionAdvice, databaseRefusal, isDbBusy, isDbUnreachable } from '../db/unavailable.js';
import { networkFileSystem, sqliteDiskFull } from '../lib/disk-space.js';
import { redactUrl } from '../lib/redact-url.js';
import { smokeTest } from '../inference/index.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { createArtifactStore, createRegistryService, createRegistryStore, type ArtifactStore, type RegistryService } from '../registry/index.js';
import type { DbLocation } from '../db/index.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { parseDuration } from '../lib/duration.js';
import { createRolloutService, createRolloutStore, type RolloutService } from '../rollout/index.js';
import { createAccessService, createAccessStore, type AccessService } from '../access/index.js';
import { createWebhookService, createWebhookStore, emitToOutbox, type WebhookService } from '../webhooks/index.js';
import { createMonitoringService, createMonitoringStore, type MonitoringService } from '../monitoring/index.js';
import { createAuditStore, createFeedbackService, type AuditStore, type FeedbackService } from '../audit/index.js';
import { createRetrainService, type RetrainService } from '../retrain/index.js';
import path from 'node:path';

/** The state every entry point shares: database, artifact store and registry. */
export interface Context {
  config: Config;
  log: Logger;
  clock: Clock;
  db: Db;
  artifacts: ArtifactStore;
  registry: RegistryService;
  rollouts: RolloutService;
  access: AccessService;
  audit: AuditStore;
  feedback: FeedbackService;
  monitoring: MonitoringService;
  webhooks: WebhookService;
  retrain: RetrainService;
  close(): Promise<void>;
}

export interface ContextOverrides {
  /** Use this database instead of the configured one (tests: a fresh schema). */
  db?: DbLocation;
  artifacts?: ArtifactStore;
  clock?: Clock;
}

/** Turn "cannot reach the database" (or SQLite's "disk I/O error" on a full disk) into a message that says where and what to check. */
export function explainDbError(e: unknown, loc: DbLocation, where: string): unknown {
  const full = loc.kind === 'sqlite' ? (sqliteDiskFull(e, loc.file, 'nothing was changed') ?? databaseRefusal(e, loc.file)) : databaseRefusal(e);
  if (full) return full;
  // A server still starting up (a database started beside this one) is waited for like an unreachable one.
  const busy = isDbBusy(e);
  if (!busy && !isDbUnreachable(e)) return e;
  const code = (e as { code?: unknown }).code;
  const advice = busy ? 'the server is there but takes no connection now (starting up, shutting down or out of connections)' : connectionAdvice(e);
  return new AppError('UNAVAILABLE', `cannot use the database at ${where} (${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(e)}); ${advice}`);
}

/**
 * A database error met by background work (the audit writer, scheduled jobs), for the log and
 * /health: what the refusal means and what to do (a standby: point DATABASE_URL at the primary)
 * rather than the driver's words alone ("cannot execute COPY during recovery"), without the
 * words a request's refusal ends with, since no one asked for a change.
 */
export function describeDbError(db: Db): (e: unknown) => string {
  return (e) =>
    errorMessage(explainDbError(e, db.location, db.describe))
      .replace(/; the change was not made$/, '')
      .replace(/; nothing was changed$/, '');
}

/**
 * The data directory holds the SQLite database, local artifacts and the audit spill file: a
 * read-only one (a container without its volume) is said plainly at start, once, naming the
 * variable, instead of "unable to open database file".
 */
export function checkDataDir(dir: string): void {
  try {
    mkdirPrivate(dir);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([
      `MODELGATE_DATA_DIR=${dir} is not writable by uid ${process.getuid?.() ?? '?'} (${code}): mount a writable volume there (docker run -v modelgate-data:${dir}; Kubernetes: a PersistentVolumeClaim or emptyDir at ${dir}), or point MODELGATE_DATA_DIR at a writable directory`,
    ]);
  }
}

export async function openContext(config: Config, log: Logger, overrides: ContextOverrides = {}): Promise<Context> {
  if (!overrides.db) checkDataDir(config.dataDir);
  const location = overrides.db ?? config.database;
  const sqliteFile = location.kind === 'sqlite' ? location.file : undefined;
  const network = sqliteFile ? networkFileSystem(path.dirname(sqliteFile)) : undefined;
  if (network) {
    log.warn(
      { file: sqliteFile, file_system: network },
      `the SQLite database ${sqliteFile} is on ${network}, a network file system: SQLite's locks and its write-ahead log's shared memory are not reliable there, and the database can be corrupted (above all with more than one server on it); keep it on a local disk with one replica, or use PostgreSQL (DATABASE_URL) for several`,
    );
  }
  let db: Db;
  try {
    db = await openDb(location);
  } catch (e) {
    throw explainDbError(e, location, location.kind === 'sqlite' ? `sqlite:${location.file}` : redactUrl(location.url));
  }
  try {
    const { newer } = await migrate(db);
    if (newer?.length) {
      log.warn(
        { newer_migrations: newer },
        `the database was migrated by a newer modelgate (${newer.join(', ')}): this release uses it as it is (migrations only add tables and columns); roll forward again when you can`,
      );
    }
  } catch (e) {
    await db.close().catch(() => undefined);
    throw explainDbError(e, location, db.describe);
  }
  const artifacts = overrides.artifacts ?? createArtifactStore(config);
  const clock = overrides.clock ?? systemClock;
  const registry = createRegistryService({
    store: createRegistryStore(db),
    artifacts,
    clock,
    log,
    smokeTest: (bytes, spec) => smokeTest(bytes, spec, config.INFERENCE_ENGINE),
    maxModelBytes: config.MAX_MODEL_BYTES,
    emit: emitToOutbox,
    // The rollout service is made below; alias changes reach it only after start.
    guard: (tx, change) => rollouts.guardAliasChange(tx, change),
  });
  const rollouts: RolloutService = createRolloutService({
    store: createRolloutStore(db),
    registry,
    clock,
    log,
    defaults: { stepIntervalMs: parseDuration(config.CANARY_STEP_INTERVAL, 'CANARY_STEP_INTERVAL'), minRequests: config.CANARY_MIN_REQUESTS, minScored: config.CANARY_MIN_SCORED },
    emit: emitToOutbox,
  });
  const access = createAccessService({ store: createAccessStore(db), clock });
  const audit = createAuditStore(db, { thread: { priority: config.BACKGROUND_THREAD_PRIORITY, log } });
  return {
    config,
    log,
    clock,
    db,
    artifacts,
    registry,
    rollouts,
    access,
    audit,
    feedback: createFeedbackService({
      db,
      clock,
      onStored: (models) => rollouts.feedbackStored(models),
      kindOf: async (model, version) => {
        const v = await registry.getVersion(model, version);
        if (v.task === 'multiclass') {
          const versions = (await registry.getModel(model)).versions as { classes?: (string | number)[] }[];
          return { task: v.task, classes: v.classes ?? [], modelClasses: [...new Set(versions.flatMap((x) => x.classes ?? []))] };
        }
        if (v.task !== 'binary') return { task: v.task };
        // A binary model's own class labels are outcomes too ("left" for a left/stayed model).
        return v.positive_class !== undefined ? { task: v.task, classes: v.manifest.output.class_labels, positive: v.positive_class } : { task: v.task };
      },
    }),
    monitoring: createMonitoringService({ store: createMonitoringStore(db), registry, clock, emit: emitToOutbox, minRows: config.MONITOR_MIN_ROWS, minLabels: config.MONITOR_MIN_LABELS }),
    webhooks: createWebhookService({ store: createWebhookStore(db), clock, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, timeoutMs: config.WEBHOOK_TIMEOUT_MS }),
    retrain: createRetrainService({
      db,
      registry,
      rollouts,
      clock,
      log,
      emit: emitToOutbox,
      s3: { region: config.S3_REGION, endpoint: config.S3_ENDPOINT },
      workDir: path.join(config.dataDir, 'retrain'),
    }),
    async close() {
      await audit.close();
      await artifacts.close();
      await db.close();
    },
  };
}
