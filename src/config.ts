import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { unreadVariableWarnings } from './config-unread.js';
import { parseRate } from './access/rate.js';
import type { RedisTlsFiles } from './access/redis-tls.js';
import { pgUrlProblems } from './db/pg-connection.js';
import { redactUrl } from './lib/redact-url.js';
import { unreadableFile } from './lib/unreadable-file.js';

/**
 * Every environment variable modelgate reads, in one place. The process validates all of
 * them at start and fails with a list of every bad one, so a typo never surfaces later
 * as a confusing runtime error.
 */
const intFrom = (min: number, max: number) => {
  // Each check says the range: the schema-wide message said "expected a number" of -1 and of 10 for a minimum of 1,024.
  const range = `expected a whole number from ${grouped(min)} to ${grouped(max)}`;
  return z.coerce.number({ error: range }).int({ error: range }).min(min, { error: range }).max(max, { error: range });
};

/**
 * 1024 as 1,024. Not toLocaleString: its first call loads ICU's locale data, 13 ms of every
 * command's start on the development machine, for messages almost never shown.
 */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ',');

/** The same parser keys use, so a default rate the server accepts is one a key may have. */
const isRate = (v: string) => {
  try {
    parseRate(v);
    return true;
  } catch {
    return false;
  }
};

const onOff = z.enum(['on', 'off', 'true', 'false', '1', '0'], { error: 'expected on or off' }).transform((v) => v === 'on' || v === 'true' || v === '1');

/** One Sentinel's address: a host name, IPv4 address or bracketed IPv6 address, and an optional port. */
const SENTINEL_ADDRESS = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

const schema = z.object({
  /** HTTP port to listen on. */
  PORT: intFrom(0, 65535).default(8080),
  /** Address to bind; default every address, IPv6 and IPv4 (`::`), or every IPv4 one where the system has no IPv6. */
  HOST: z.string().min(1).optional(),
  /** Where SQLite, local artifacts and other local state live. */
  MODELGATE_DATA_DIR: z.string().min(1).default('./.modelgate'),
  /** postgres://user@host/db for PostgreSQL; sqlite:/path/file.db or unset for SQLite in the data dir. */
  DATABASE_URL: z
    .string()
    .refine((v) => /^(postgres|postgresql|sqlite):/.test(v), 'expected postgres://… or sqlite:/path/to/file.db')
    .optional(),
  /**
   * PostgreSQL connections each process keeps open at most (the audit log's writes, API reads,
   * background jobs share them): replicas × WORKERS × this must fit the server's
   * max_connections, or the pooler's pool.
   */
  DATABASE_POOL_MAX: intFrom(1, 200).default(10),
  /** Artifact store: a directory path (default: <data dir>/artifacts) or s3://bucket/prefix. */
  ARTIFACT_STORE: z.string().min(1).optional(),
  /** S3-compatible endpoint (MinIO, Ceph, s3rver); unset for AWS S3. */
  S3_ENDPOINT: z.url({ error: 'expected a URL such as http://127.0.0.1:9000' }).optional(),
  /** Region for the S3 client. */
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** Redis for rate limits shared by every replica; unset: limits are counted in each process's memory. */
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'expected redis://host:port')
    .optional(),
  /** REDIS_URL names one node of a Redis Cluster (ElastiCache and Memorystore cluster mode, Redis Cluster): keys go to the nodes that own them. */
  REDIS_CLUSTER: onOff.default(false),
  /** Sentinels (host:port, comma-separated) that name the primary; REDIS_URL's host is then the name they monitor it under. */
  REDIS_SENTINELS: z
    .string()
    .refine((v) => v.split(',').every((a) => SENTINEL_ADDRESS.test(a.trim())), 'expected host:port of each Sentinel, comma-separated, such as redis-sentinel-0:26379,redis-sentinel-1:26379')
    .optional(),
  /** The Sentinels' password when it is not Redis's (REDIS_URL's, sent to both when this is unset); none: Sentinels without a password. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** With rediss://: a client certificate (PEM file) for a Redis that asks for one (tls-auth-clients, Redis's default with TLS). */
  REDIS_TLS_CERT_FILE: z.string().min(1).optional(),
  /** The client certificate's private key (PEM file). */
  REDIS_TLS_KEY_FILE: z.string().min(1).optional(),
  /** With rediss://: the CA (PEM file) Redis's certificate must be signed by, instead of the system's CAs and NODE_EXTRA_CA_CERTS. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /** Rate for keys and service tokens without their own (e.g. 100/s); unset: only keys with a rate are limited. */
  RATE_LIMIT_DEFAULT: z.string().refine(isRate, 'expected requests per window such as 100/s, 6000/m or 20/10s (window 100ms to 1d)').optional(),
  /** When Redis cannot answer a rate-limit check: open allows the request, closed answers 503. */
  RATE_LIMIT_FAIL: z.enum(['open', 'closed']).default('open'),
  /** Worker processes: a number, or auto for one per core. */
  WORKERS: z
    .string()
    .default('1')
    .refine((v) => v === 'auto' || /^[1-9][0-9]*$/.test(v), 'expected a positive whole number or auto'),
  /** The access log, one info line per request: on; errors: only answers of 400 and above; off. */
  ACCESS_LOG: z.enum(['on', 'errors', 'off']).default('on'),
  /** json: pino's lines (level, time in epoch ms, msg); gcp: Google Cloud Logging's fields (severity, RFC 3339 time, message). */
  LOG_FORMAT: z.enum(['json', 'gcp']).default('json'),
  /** pino log level, in any case (INFO, Warn, debug). */
  LOG_LEVEL: z
    .string()
    .transform((v) => v.trim().toLowerCase())
    .pipe(
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: (i) => `expected one of fatal, error, warn, info, debug, trace, silent (any case), got ${JSON.stringify(i.input)}`,
      }),
    )
    .default('info'),
  /** on: every prediction is recorded in the audit log (batched, off the request path). */
  AUDIT_LOG: onOff.default(true),
  /** What the audit log keeps of each request's features: full (the payload), hashed (SHA-256 of the canonical values), none. */
  AUDIT_FEATURES: z.enum(['full', 'hashed', 'none']).default('full'),
  /** With AUDIT_FEATURES=full: a payload larger than this (bytes of JSON) keeps only the version's features, so a client sending large unused fields cannot fill the database. */
  AUDIT_PAYLOAD_MAX_BYTES: intFrom(1024, 1_073_741_824).default(65_536),
  /** Audit writer: how often queued records are written (ms). */
  AUDIT_FLUSH_MS: intFrom(10, 60_000).default(100),
  /** Audit writer: records per INSERT; a full batch is written at once. */
  AUDIT_BATCH_ROWS: intFrom(1, 5000).default(500),
  /** Audit writer: records held in memory at most; beyond it they go to the spill file. */
  AUDIT_QUEUE_MAX: intFrom(100, 10_000_000).default(100_000),
  /**
   * Background threads (the SQLite audit writer, the shadow scorer): normal runs them as any
   * thread; idle runs them under Linux's SCHED_IDLE, on CPU time the request thread does not
   * want (the audit writer falls back to normal by itself when starved). At saturation idle
   * gave about 9 % more throughput and a 16 % higher p99 (docs/performance.md).
   */
  BACKGROUND_THREAD_PRIORITY: z.enum(['idle', 'normal']).default('normal'),
  /** Audit records older than this are deleted in the background; 0 keeps them forever. */
  PREDICTION_RETENTION_DAYS: intFrom(0, 36_500).default(90),
  /** Prediction cache: most entries kept per process (least recently used go first); 0 turns it off. */
  CACHE_MAX_ITEMS: intFrom(0, 10_000_000).default(10_000),
  /** Prediction cache: how long an entry is served (ms); 0 = until evicted. */
  CACHE_TTL_MS: intFrom(0, 86_400_000).default(300_000),
  /** Prediction cache: a row enters it the second time it is scored (distinct rows cost nothing), or the first. */
  CACHE_ADMIT: z.enum(['second', 'first'], { error: 'expected second or first' }).default('second'),
  /** Bearer token that grants every scope. Required unless MODELGATE_AUTH=off. */
  MODELGATE_ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters').optional(),
  /** The admin token being replaced: accepted too while replicas roll and callers move to the new one; unset it after. */
  MODELGATE_ADMIN_TOKEN_PREVIOUS: z.string().min(16, 'expected at least 16 characters').optional(),
  /** Comma-separated infer-only bearer tokens (16+ characters each); list old and new while rotating one. */
  MODELGATE_SERVICE_TOKENS: z
    .string()
    .refine((v) => v.split(',').every((t) => t.trim().length >= 16), 'expected comma-separated tokens of at least 16 characters each')
    .optional(),
  /** JWT bearer tokens signed HS256/384/512 with this shared secret (32+ characters). */
  JWT_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  /** The JWT secret being replaced: tokens signed with it are accepted too while the identity provider and the replicas move to JWT_SECRET; unset it after. */
  JWT_SECRET_PREVIOUS: z.string().min(32, 'expected at least 32 characters').optional(),
  /** JWT bearer tokens signed by a key from this JWKS URL (RSA, RSA-PSS, ECDSA, EdDSA). */
  JWT_JWKS_URL: z.string().url('expected an https:// (or http://) URL of a JWKS document').optional(),
  /** When set, a JWT's iss must equal it. */
  JWT_ISSUER: z.string().min(1).optional(),
  /** When set, a JWT's aud must contain it. */
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** JWT claim holding modelgate scopes, space-separated or an array (infer, read, feedback, admin). */
  JWT_SCOPES_CLAIM: z.string().min(1).default('scope'),
  /** on: every /v1 route needs a bearer token; off: open (a warning is logged at start). */
  MODELGATE_AUTH: onOff.default(true),
  /** Largest accepted request body. */
  BODY_LIMIT_BYTES: intFrom(1024, 512 * 1024 * 1024).default(1024 * 1024),
  /** Longest a client may take to send a whole request (headers and body): a slower one gets 408 and is closed. */
  REQUEST_TIMEOUT_MS: intFrom(1000, 3_600_000).default(60_000),
  /** How long an idle keep-alive connection stays open: longer than the idle timeout of the load balancer in front (Google's: 600 s). */
  KEEP_ALIVE_TIMEOUT_MS: intFrom(1000, 3_600_000).default(72_000),
  /** Most rows accepted by one /v1/models/:name/predict call. */
  PREDICT_MAX_INSTANCES: intFrom(1, 100_000).default(1000),
  /** Micro-batcher: most rows coalesced into one ONNX run. */
  BATCH_MAX_ROWS: intFrom(1, 100_000).default(64),
  /** Micro-batcher: an upper bound (µs) on waiting for company when more than one run may be in flight; a lone request runs at once and batches form from arrivals during a run. */
  BATCH_MAX_WAIT_US: intFrom(0, 1_000_000).default(200),
  /** How often a server checks the registry for promotions made elsewhere (ms). */
  RELOAD_INTERVAL_MS: intFrom(50, 60_000).default(1000),
  /** Feed a graph's one-column inputs of each type as one tensor (a checked in-memory rewrite; fewer, cheaper runs). off: feed them one by one. */
  ONNX_PACK_INPUTS: onOff.default(true),
  /** auto: each version runs as compiled JavaScript when it scores exactly as onnxruntime on its check rows, else on onnxruntime; onnxruntime: always onnxruntime. */
  INFERENCE_ENGINE: z.enum(['auto', 'onnxruntime']).default('auto'),
  /** Threads onnxruntime may use inside one run; parallelism comes from WORKERS. */
  ORT_INTRA_OP_THREADS: intFrom(1, 64).default(1),
  /** Most model versions kept loaded per process (production versions always are). */
  MAX_LOADED_VERSIONS: intFrom(1, 1000).default(16),
  /** How often the elected leader analyses running canaries (ms). */
  ANALYSIS_INTERVAL_MS: intFrom(100, 3_600_000).default(30_000),
  /** How often each server writes its per-arm counts to the database (ms). */
  STATS_FLUSH_INTERVAL_MS: intFrom(100, 600_000).default(5_000),
  /** Default time each canary step must stay healthy before the next (when a canary gives none). */
  CANARY_STEP_INTERVAL: z
    .string()
    .regex(/^[0-9]+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 10m or 1h')
    .default('10m'),
  /** Default requests the canary needs in a step before it is judged. */
  CANARY_MIN_REQUESTS: intFrom(1, 10_000_000).default(200),
  /** Model-scored requests (cache hits excluded) each arm needs in a step before any automatic rollback or step; per canary: analysis.min_scored_per_arm. */
  CANARY_MIN_SCORED: intFrom(1, 10_000_000).default(100),
  /** How often the scheduled monitor makes a report per production model (once per cluster). */
  MONITOR_INTERVAL: z
    .string()
    .regex(/^[0-9]+(ms|s|m|h|d)$/, 'expected a duration such as 30m, 4h or 1d')
    .default('4h'),
  /** How much recent traffic each scheduled report covers. */
  MONITOR_WINDOW: z
    .string()
    .regex(/^[0-9]+(ms|s|m|h|d)$/, 'expected a duration such as 1h, 24h or 7d')
    .refine((v) => !/^0+[a-z]+$/.test(v), 'a window of nothing holds no traffic; give a length such as 1h, 24h or 7d')
    .default('24h'),
  /** How often servers check for due monitor runs and refresh monitoring gauges from stored reports (ms). */
  MONITOR_TICK_MS: intFrom(100, 3_600_000).default(60_000),
  /** Predictions a monitoring window needs before a drift flag (high_psi, prediction_drift, action_rate_anomaly, retrain by drift) may fire. */
  MONITOR_MIN_ROWS: intFrom(1, 1_000_000_000).default(500),
  /** Labelled predictions a window needs before an outcome flag (low_auc, miscalibrated, retrain by a metric drop) may fire. */
  MONITOR_MIN_LABELS: intFrom(1, 1_000_000_000).default(100),
  /** Delays before webhook retries 1, 2, …; after the last, a delivery goes to the dead-letter queue. */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(/^\s*[0-9]+(ms|s|m|h|d)(\s*,\s*[0-9]+(ms|s|m|h|d))*\s*$/, 'expected comma-separated durations such as 5s,5m,30m,2h,5h,10h')
    .default('5s,5m,30m,2h,5h,10h'),
  /** Time a webhook receiver has to answer one delivery (ms). */
  WEBHOOK_TIMEOUT_MS: intFrom(100, 600_000).default(15_000),
  /** on: webhook receivers may be on loopback, link-local or private addresses (internal receivers, tests); off: refused, at subscription and at every delivery. */
  WEBHOOK_ALLOW_PRIVATE: onOff.default(false),
  /** How often the delivery worker looks for events to send (ms). */
  WEBHOOK_TICK_MS: intFrom(50, 600_000).default(1000),
  /** Shadow copies waiting to be scored; more are dropped (and counted). */
  SHADOW_QUEUE_MAX: intFrom(1, 1_000_000).default(1000),
  /** Name of this server in cluster statistics; default host:pid. */
  REPLICA_ID: z.string().min(1).max(200).optional(),
  /**
   * How replicas elect the one that runs canary analysis, scheduled monitoring and webhook
   * delivery. lease: a row in the database, taken over once its holder stops renewing it (works
   * through PgBouncer and other poolers); lock: a PostgreSQL advisory lock, taken over the moment
   * a leader dies, for connections straight to PostgreSQL only.
   */
  LEADER_ELECTION: z.enum(['lease', 'lock']).default('lease'),
  /** On SIGTERM, keep serving this long with readiness failing before closing (ms); set it above your load balancer's probe interval. */
  SHUTDOWN_DELAY_MS: intFrom(0, 300_000).default(0),
  /** After the delay: how long in-flight requests may take to finish before their connections are cut (ms). */
  SHUTDOWN_GRACE_MS: intFrom(100, 300_000).default(10_000),
  /** Largest ONNX file accepted at registration (bytes). */
  MAX_MODEL_BYTES: intFrom(1024, 4 * 1024 * 1024 * 1024).default(512 * 1024 * 1024),
  /**
   * Largest file part of an upload to POST /v1/models/:name/versions (bytes): the graph is held in
   * the serving process's memory and a reference CSV written to the temporary directory while they
   * are checked (the Kubernetes base gives /tmp 256 MiB; an emptyDir past its size gets the pod evicted).
   */
  UPLOAD_MAX_BYTES: intFrom(1024, 4 * 1024 * 1024 * 1024).default(128 * 1024 * 1024),
});

export type RawConfig = z.infer<typeof schema>;

export interface Config extends Omit<RawConfig, 'WORKERS' | 'HOST'> {
  WORKERS: number;
  HOST: string;
  /** Resolved absolute data directory. */
  dataDir: string;
  /** Resolved database location. */
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; poolMax: number };
  /** Resolved artifact location. */
  artifacts: { kind: 'dir'; dir: string } | { kind: 's3'; bucket: string; prefix: string };
  /** MODELGATE_SERVICE_TOKENS, split. */
  serviceTokens: string[];
  /** REDIS_SENTINELS, split (port 26379 when none is given). */
  redisSentinels: { host: string; port: number }[] | undefined;
  /** REDIS_SENTINEL_PASSWORD: the Sentinels' own password, null for none; undefined: REDIS_URL's. */
  redisSentinelPassword: string | null | undefined;
  /** REDIS_TLS_*_FILE: a CA to trust and a client certificate for rediss://. */
  redisTls: RedisTlsFiles | undefined;
}

/**
 * Every address: `::`, which takes IPv4 connections too, where the system has IPv6 (so a pod in an
 * IPv6-only or dual-stack cluster is reachable on its IPv6 address); `0.0.0.0` where it has none
 * (a kernel booted with ipv6.disable=1 refuses to bind `::`).
 */
export function wildcardHost(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): string {
  return Object.values(interfaces).some((list) => list?.some((a) => a.family === 'IPv6')) ? '::' : '0.0.0.0';
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Every environment variable modelgate reads (deployment manifests are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** Set variables that look meant for modelgate but that it does not read, each with a warning. */
export const unreadVariables = (env: NodeJS.ProcessEnv = process.env): string[] => unreadVariableWarnings(env, CONFIG_VARIABLES);

/** Variables whose whole value is a secret: a token, a signing secret, a password. */
const SECRET_VARIABLE = /TOKEN|SECRET|PASSWORD/;

/**
 * A variable's value as a configuration error may show it: no password from a URL, and of a
 * secret only its length. An admin token one character too short is still the token, and the
 * error goes to the log of every restart until it is fixed.
 */
const shown = (key: string, value: string): string => (key.endsWith('_URL') ? redactUrl(value) : value);
const assignment = (key: string, value: string): string =>
  SECRET_VARIABLE.test(key) ? `${key}=(${value.length} character${value.length === 1 ? '' : 's'}, not shown)` : `${key}=${JSON.stringify(shown(key, value))}`;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cpuCount = 1): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '?');
      problems.push(`${assignment(key, input[key] ?? '')}: ${issue.message}`);
    }
  }
  const raw = parsed.success ? parsed.data : undefined;
  if (raw && raw.MODELGATE_AUTH && !raw.MODELGATE_ADMIN_TOKEN) {
    problems.push('MODELGATE_ADMIN_TOKEN is unset while MODELGATE_AUTH is on: set a token of 16+ characters, or MODELGATE_AUTH=off for an open server');
  }
  if (raw?.MODELGATE_ADMIN_TOKEN_PREVIOUS) {
    if (!raw.MODELGATE_ADMIN_TOKEN) problems.push('MODELGATE_ADMIN_TOKEN_PREVIOUS is set without MODELGATE_ADMIN_TOKEN: it is the token being replaced; put the new one in MODELGATE_ADMIN_TOKEN');
    else if (raw.MODELGATE_ADMIN_TOKEN_PREVIOUS === raw.MODELGATE_ADMIN_TOKEN)
      problems.push('MODELGATE_ADMIN_TOKEN_PREVIOUS is the same as MODELGATE_ADMIN_TOKEN: set it to the token being replaced, or unset it');
  }
  if (raw?.JWT_SECRET_PREVIOUS) {
    if (!raw.JWT_SECRET) problems.push('JWT_SECRET_PREVIOUS is set without JWT_SECRET: it is the secret being replaced; put the new one in JWT_SECRET');
    else if (raw.JWT_SECRET_PREVIOUS === raw.JWT_SECRET) problems.push('JWT_SECRET_PREVIOUS is the same as JWT_SECRET: set it to the secret being replaced, or unset it');
  }
  const serviceTokens = raw?.MODELGATE_SERVICE_TOKENS ? raw.MODELGATE_SERVICE_TOKENS.split(',').map((t) => t.trim()) : [];
  // The admin token is tried first, so a token in both lists would quietly get every scope.
  for (const [name, token] of [
    ['MODELGATE_ADMIN_TOKEN', raw?.MODELGATE_ADMIN_TOKEN],
    ['MODELGATE_ADMIN_TOKEN_PREVIOUS', raw?.MODELGATE_ADMIN_TOKEN_PREVIOUS],
  ] as const) {
    if (token && serviceTokens.includes(token))
      problems.push(`MODELGATE_SERVICE_TOKENS holds the token of ${name}: a service token may only score, the admin token may do everything; give them different tokens`);
  }
  if (raw?.ARTIFACT_STORE?.startsWith('s3://') && !/^s3:\/\/[a-z0-9][a-z0-9.-]{2,62}(\/.*)?$/.test(raw.ARTIFACT_STORE)) {
    problems.push(`ARTIFACT_STORE=${JSON.stringify(raw.ARTIFACT_STORE)}: expected s3://bucket/prefix with a valid bucket name (3-63 lowercase letters, digits, dots, dashes)`);
  }
  if (raw?.REDIS_SENTINELS) {
    const shape = "REDIS_URL=redis://[:password@]NAME (rediss:// for TLS), NAME being the primary's name in the Sentinels' configuration (sentinel monitor NAME …; often mymaster)";
    if (!raw.REDIS_URL) problems.push(`REDIS_SENTINELS is set without REDIS_URL: set ${shape}`);
    else if (/:\d+(\/|$)/.test(raw.REDIS_URL.replace(/^(rediss?:\/\/)[^@]*@/, '$1')))
      problems.push(`REDIS_URL=${JSON.stringify(redactUrl(raw.REDIS_URL))} has a port, but with REDIS_SENTINELS its host is a name, not an address: set ${shape}`);
    if (raw.REDIS_CLUSTER) problems.push('REDIS_SENTINELS and REDIS_CLUSTER=on are both set: a Redis Cluster needs no Sentinels; keep the one your Redis runs');
  } else if (raw?.REDIS_SENTINEL_PASSWORD) {
    problems.push('REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINELS: it is the password of the Sentinels listed there; set both, or unset it');
  }
  if (raw && (raw.REDIS_TLS_CERT_FILE || raw.REDIS_TLS_KEY_FILE || raw.REDIS_TLS_CA_FILE)) {
    if (!raw.REDIS_URL?.startsWith('rediss://'))
      problems.push(`REDIS_TLS_* files are set, ${raw.REDIS_URL ? 'but REDIS_URL does not use TLS' : 'without REDIS_URL'}: they apply to a TLS connection; set REDIS_URL=rediss://host:port`);
    if (!raw.REDIS_TLS_CERT_FILE !== !raw.REDIS_TLS_KEY_FILE)
      problems.push(
        `${raw.REDIS_TLS_CERT_FILE ? 'REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE' : 'REDIS_TLS_KEY_FILE is set without REDIS_TLS_CERT_FILE'}: a client certificate needs both, the certificate and its private key`,
      );
    for (const key of ['REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_CA_FILE'] as const) {
      const file = raw[key];
      const unreadable = file ? unreadableFile(file) : undefined;
      if (unreadable) problems.push(`${key}=${JSON.stringify(file)}: cannot read it (${unreadable}); mount the PEM file there or fix the path`);
    }
  }
  if (raw?.DATABASE_URL?.startsWith('postgres')) {
    for (const p of pgUrlProblems(raw.DATABASE_URL)) problems.push(`DATABASE_URL=${JSON.stringify(shown('DATABASE_URL', raw.DATABASE_URL))}: ${p}`);
  }
  if (problems.length > 0 || !raw) throw new ConfigError(problems);

  const dataDir = path.resolve(raw.MODELGATE_DATA_DIR);
  const database: Config['database'] = raw.DATABASE_URL?.startsWith('postgres')
    ? { kind: 'postgres', url: raw.DATABASE_URL, poolMax: raw.DATABASE_POOL_MAX }
    : { kind: 'sqlite', file: raw.DATABASE_URL ? path.resolve(raw.DATABASE_URL.replace(/^sqlite:(\/\/)?/, '')) : path.join(dataDir, 'modelgate.db') };
  let artifacts: Config['artifacts'];
  if (raw.ARTIFACT_STORE?.startsWith('s3://')) {
    const rest = raw.ARTIFACT_STORE.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    artifacts = { kind: 's3', bucket, prefix };
  } else {
    artifacts = { kind: 'dir', dir: path.resolve(raw.ARTIFACT_STORE ?? path.join(dataDir, 'artifacts')) };
  }
  return {
    ...raw,
    WORKERS: raw.WORKERS === 'auto' ? Math.max(1, cpuCount) : Number(raw.WORKERS),
    HOST: raw.HOST ?? wildcardHost(),
    serviceTokens,
    redisSentinels: raw.REDIS_SENTINELS?.split(',').map((a) => {
      const [, host, port] = SENTINEL_ADDRESS.exec(a.trim())!;
      return { host: host!.replace(/^\[|\]$/g, ''), port: Number(port ?? 26379) };
    }),
    redisSentinelPassword: raw.REDIS_SENTINEL_PASSWORD === undefined ? undefined : raw.REDIS_SENTINEL_PASSWORD === 'none' ? null : raw.REDIS_SENTINEL_PASSWORD,
    redisTls:
      raw.REDIS_TLS_CERT_FILE || raw.REDIS_TLS_CA_FILE
        ? { ...(raw.REDIS_TLS_CA_FILE ? { caFile: raw.REDIS_TLS_CA_FILE } : {}), ...(raw.REDIS_TLS_CERT_FILE ? { certFile: raw.REDIS_TLS_CERT_FILE, keyFile: raw.REDIS_TLS_KEY_FILE! } : {}) }
        : undefined,
    dataDir,
    database,
    artifacts,
  };
}

/** Config for code paths that never authenticate (CLI admin commands act on the store directly). */
export function loadConfigForCli(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig({ ...env, MODELGATE_AUTH: env.MODELGATE_ADMIN_TOKEN ? env.MODELGATE_AUTH : 'off' });
}
