import { consoleRoutes, reportHtmlRoutes } from '../console/index.js';
import { callerRequestId } from './request-id.js';
import type { DataDiskProbe } from '../lib/disk-space.js';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { asOpenApi30 } from './openapi.js';
import type { Config } from '../config.js';
import { inferenceRoutes, type ArmObserver, type ModelPool, type PredictionCache, type PredictionSink } from '../inference/index.js';
import { auditRoutes, feedbackRoutes, type AuditStore, type FeedbackService } from '../audit/index.js';
import { monitoringRoutes, profileReferenceFile, type MonitoringService } from '../monitoring/index.js';
import { webhookRoutes, type WebhookService } from '../webhooks/index.js';
import { rolloutRoutes, type RolloutService } from '../rollout/index.js';
import { accessRoutes, installRateLimit, jwtAuthenticator, parseRate, serviceTokenAuthenticator, type AccessService, type RateLimiter } from '../access/index.js';
import { accessLineWriter, type Logger } from '../lib/logger.js';
import { lazyChildLoggerFactory } from './request-logger.js';
import type { Clock } from '../lib/clock.js';
import { registryRoutes, UPLOAD_FORM, uploadRoute, type RegistryService } from '../registry/index.js';
import { retrainRoutes, type RetrainService } from '../retrain/index.js';
import { actorOf, adminTokenAuthenticator, installAuth, type Authenticator } from './auth.js';
import { clientErrorHandler, errorBodySchema, fromFastify, installErrorHandling } from './errors.js';
import { AppError } from '../lib/errors.js';
import { VERSION } from '../lib/version.js';
import { healthRoutes, readiness } from './health.js';
import type { ClusterMember } from './cluster-gather.js';
import { unreadBodyDrain } from './unread-body.js';
import { installJsonParser } from './json-body.js';
import { installHttpMetrics, type Metrics } from './metrics.js';

export interface AppDeps {
  config: Config;
  log: Logger;
  registry: RegistryService;
  rollouts: RolloutService;
  access: AccessService;
  /** The audit log's recorder; absent with AUDIT_LOG=off. */
  sink?: PredictionSink;
  /** Audited predictions, for the query routes. */
  auditStore: AuditStore;
  feedback: FeedbackService;
  monitoring: MonitoringService;
  webhooks: WebhookService;
  /** Retrain plans and runs, for their routes. */
  retrain: RetrainService;
  /** Write this process's queued audit records now (feedback for a prediction made a moment ago). */
  flushAudit?: () => Promise<void>;
  /** Prediction cache shared by this process's inference routes. */
  cache?: PredictionCache;
  clock: Clock;
  /** Per-key rate limits (Redis when REDIS_URL is set, else this process's memory). */
  limiter: RateLimiter;
  /** Called after an API key changes through this server. */
  accessChanged?: () => Promise<void>;
  observer: ArmObserver;
  pool: ModelPool;
  metrics: Metrics;
  /** The /metrics text; default this process's registry (a cluster worker asks the primary for every worker's sum). */
  scrapeMetrics?: () => Promise<string>;
  /** With WORKERS > 1: this worker's line to the primary, through which /health covers every worker. */
  cluster?: ClusterMember;
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  draining: () => boolean;
  /** Authenticators tried after the admin and service tokens (API keys; tests add their own). */
  authenticators?: Authenticator[];
  /** The SQLite database this process writes, if any: a full disk under it is named in errors. */
  sqliteFile?: string;
  /** The data directory and its file system's space, for /health. */
  dataDisk?: DataDiskProbe;
  /** While the database refuses audit records: since when and why (/health). */
  auditRefusal?: () => { since: string; error: string } | undefined;
}

/**
 * On every response: JSON an API returns must never be sniffed into HTML, framed, cached by a
 * shared proxy or given a referrer; no content may load anything. The OpenAPI pages under
 * /docs run Swagger UI's own scripts and styles, so they get the same headers without the
 * content policy. (HSTS belongs to whatever terminates TLS in front of the server.)
 */
const DOCS_SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;
const SECURITY_HEADERS = { ...DOCS_SECURITY_HEADERS, 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" } as const;
// As [name, value] lists, so a request walks an array instead of listing an object's keys afresh.
const DOCS_HEADER_LIST = Object.entries(DOCS_SECURITY_HEADERS);
const HEADER_LIST = Object.entries(SECURITY_HEADERS);

/** Request ids: a random per-process prefix and a counter — unique, and cheaper than a UUID each. */
const ID_PREFIX = randomUUID().slice(0, 8);
let idCounter = 0;

/**
 * A secret being replaced (the admin token, the JWT secret), if set: each use counted, the first
 * in this process logged with what to do.
 */
function previousSecret(value: string | undefined, setting: 'MODELGATE_ADMIN_TOKEN' | 'JWT_SECRET', deps: Pick<AppDeps, 'log' | 'metrics'>) {
  if (value === undefined) return undefined;
  let logged = false;
  const counter = deps.metrics.previousSecret.labels({ secret: `${setting}_PREVIOUS` });
  return {
    value,
    onUse: () => {
      counter.inc();
      if (logged) return;
      logged = true;
      deps.log.warn(
        `a request was authenticated by ${setting}_PREVIOUS: move what sends it to ${setting}, then unset ${setting}_PREVIOUS once modelgate_previous_secret_requests_total{secret="${setting}_PREVIOUS"} stops growing`,
      );
    },
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // One access line per request (our onResponse hook) instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    childLoggerFactory: lazyChildLoggerFactory,
    requestIdHeader: false,
    // A caller's own x-request-id is kept when it is sane, so traces join across services.
    genReqId: (req) => callerRequestId(req.headers['x-request-id']) ?? `${ID_PREFIX}-${(++idCounter).toString(36)}`,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Fastify's default (0) lets a client drip a body a byte at a time for as long as it likes,
    // holding a connection each (slowloris); Node then answers 408 and closes. Node looks for
    // late requests every connectionsCheckingInterval (30 s by default): a quarter of the limit.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    clientErrorHandler: clientErrorHandler(config.REQUEST_TIMEOUT_MS, () => `${ID_PREFIX}-${(++idCounter).toString(36)}`),
    // A load balancer that reuses a connection this server has just closed as idle gets a reset
    // and answers its client 502 (a POST is not retried): the server must wait longer than the
    // balancer does. Fastify's 72 s outlasts AWS's and ingress-nginx's 60 s, not Google's 600 s.
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: Math.min(60_000, config.REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.REQUEST_TIMEOUT_MS / 4))),
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // While closing, requests already on open connections are still served (not 503), then connections close.
    return503OnClosing: false,
  });

  // One hook of each kind for every request, callback style (no promise each): every hook
  // Fastify runs costs a step of its hook chain. Per-route work (auth, rate limit, the route's
  // duration metric) is in route-level hooks that installAuth, installRateLimit and
  // installHttpMetrics add as routes are registered.
  // A body still arriving after its answer is read on (and discarded) up to 16 MiB or the limit,
  // whichever is more, for 10 s.
  const unreadBody = unreadBodyDrain({ bytes: Math.max(16 * 1024 * 1024, config.BODY_LIMIT_BYTES), ms: 10_000, draining: deps.draining });
  const observeUnmatched = installHttpMetrics(app, deps.metrics);
  const accessLine = config.ACCESS_LOG === 'off' ? undefined : accessLineWriter(deps.log);
  const accessFrom = config.ACCESS_LOG === 'errors' ? 400 : 0;
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const list = request.url.startsWith('/docs') ? DOCS_HEADER_LIST : HEADER_LIST;
    for (let i = 0; i < list.length; i++) reply.header(list[i][0], list[i][1]);
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    // Draining (shutdown began): responses ask the client to close its connection, so keep-alive
    // connections end with their last response and clients reconnect to another replica.
    if (deps.draining()) reply.header('connection', 'close');
    unreadBody.beforeSend(request, reply);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (accessLine && reply.statusCode >= accessFrom) {
      const url = request.url;
      const query = url.indexOf('?');
      // To the µs; Math.round rather than toFixed(3), which costs about 0.25 µs a call.
      accessLine(request.id, request.method, query < 0 ? url : url.slice(0, query), reply.statusCode, Math.round(reply.elapsedTime * 1000) / 1000);
    }
    if (request.is404) observeUnmatched(request, reply);
    unreadBody.afterResponse(request);
    done();
  });

  app.addSchema(errorBodySchema);
  installJsonParser(app);
  installErrorHandling(app, deps.sqliteFile);
  if (!config.MODELGATE_AUTH) deps.log.warn('MODELGATE_AUTH=off: every route is open to anyone who can reach this port');
  installAuth(app, {
    enabled: config.MODELGATE_AUTH,
    authenticators: [
      ...(config.MODELGATE_ADMIN_TOKEN ? [adminTokenAuthenticator(config.MODELGATE_ADMIN_TOKEN, previousSecret(config.MODELGATE_ADMIN_TOKEN_PREVIOUS, 'MODELGATE_ADMIN_TOKEN', deps))] : []),
      ...(config.serviceTokens.length ? [serviceTokenAuthenticator(config.serviceTokens)] : []),
      ...(config.JWT_SECRET || config.JWT_JWKS_URL
        ? [
            jwtAuthenticator({
              secret: config.JWT_SECRET,
              previousSecret: previousSecret(config.JWT_SECRET_PREVIOUS, 'JWT_SECRET', deps),
              jwksUrl: config.JWT_JWKS_URL,
              issuer: config.JWT_ISSUER,
              audience: config.JWT_AUDIENCE,
              scopesClaim: config.JWT_SCOPES_CLAIM,
            }),
          ]
        : []),
      ...(deps.authenticators ?? []),
    ],
  });
  const defaultRate = config.RATE_LIMIT_DEFAULT ? parseRate(config.RATE_LIMIT_DEFAULT, 'RATE_LIMIT_DEFAULT') : undefined;
  // JWT callers are counted as one series: their subjects come from the identity provider, as many as it has users.
  installRateLimit(app, { limiter: deps.limiter, defaultRate, onLimited: (p) => deps.metrics.rateLimited.inc({ key: p.kind === 'jwt' ? 'jwt' : p.id }) });

  // Compressed request bodies (gzip, deflate, br) and replies over 1 KB compressed for a client
  // that asks (Accept-Encoding: Prometheus's scrapes, exports, batch replies, Triton's clients).
  // BODY_LIMIT_BYTES holds for what a body expands to. /v1/infer opts out of both: its
  // single-row bodies and replies are a few hundred bytes, and it is the path every hook costs.
  await app.register(compress, {
    requestEncodings: ['gzip', 'deflate', 'br', 'identity'],
    onUnsupportedRequestEncoding: (encoding) => new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported; send the body as gzip, deflate or br, or uncompressed`),
    // The plugin copies this error's own enumerable fields onto zlib's error, which is what reaches
    // the error handler: the message and status are made enumerable so that they go across.
    onInvalidRequestPayload: (encoding, _request, error) => {
      const message = `the body is not valid ${encoding} data (${error.message}), though Content-Encoding says so; send it as it says, or uncompressed`;
      return Object.defineProperties(new Error(message), { message: { value: message, enumerable: true }, statusCode: { value: 400, enumerable: true } });
    },
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'modelgate', description: 'Serving and rollout gateway for tabular decision models', version: VERSION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transformObject: (d) => asOpenApi30('openapiObject' in d ? d.openapiObject : d.swaggerObject),
    // The upload's form parts, for /docs only: the route reads and checks them itself.
    transform: ({ schema, url, route }) => ({ url, schema: url === '/v1/models/:name/versions' && route.method === 'POST' ? { ...schema, body: UPLOAD_FORM } : schema }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  await app.register(healthRoutes, {
    pool: deps.pool,
    draining: deps.draining,
    ...(deps.dataDisk ? { dataDisk: deps.dataDisk } : {}),
    ...(deps.auditRefusal ? { auditRefusal: deps.auditRefusal } : {}),
    ...(deps.cluster ? { cluster: deps.cluster } : {}),
    rateLimits: () => {
      const outage = deps.limiter.outage();
      return outage && { ...outage, policy: config.RATE_LIMIT_FAIL };
    },
  });
  app.get('/metrics', { config: { scope: 'public' }, schema: { tags: ['health'], summary: 'Prometheus metrics', hide: false } }, async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.scrapeMetrics ? deps.scrapeMetrics() : deps.metrics.registry.metrics();
  });
  await app.register(inferenceRoutes, {
    sink: deps.sink,
    cache: deps.cache,
    pool: deps.pool,
    metrics: deps.metrics,
    maxInstances: config.PREDICT_MAX_INSTANCES,
    observer: deps.observer,
    oip: {
      versions: async (model) => (await deps.registry.getModel(model)).versions.filter((v) => v.status === 'active').map((v) => v.version),
      notReady: () => readiness(deps).reasons,
      serverName: 'modelgate',
      serverVersion: VERSION,
      toAppError: (err) => (err instanceof AppError ? err : fromFastify(err as FastifyError)),
    },
  });
  await app.register(rolloutRoutes, {
    rollouts: deps.rollouts,
    onChange: () => deps.pool.refresh(true),
    actorOf,
    notLoaded: (model) => deps.pool.rolloutsDown().filter((d) => d.model === model),
  });
  await app.register(registryRoutes, { registry: deps.registry, onChange: () => deps.pool.refresh(true), actorOf });
  await app.register(uploadRoute, {
    registry: deps.registry,
    onChange: () => deps.pool.refresh(true),
    actorOf,
    maxModelBytes: config.MAX_MODEL_BYTES,
    uploadMaxBytes: config.UPLOAD_MAX_BYTES,
    profileReference: profileReferenceFile,
  });
  await app.register(auditRoutes, { store: deps.auditStore, clock: deps.clock });
  await app.register(monitoringRoutes, { monitoring: deps.monitoring });
  await app.register(retrainRoutes, { retrain: deps.retrain, actorOf });
  await app.register(reportHtmlRoutes, { monitoring: deps.monitoring });
  await app.register(consoleRoutes);
  await app.register(webhookRoutes, { webhooks: deps.webhooks, actorOf });
  await app.register(feedbackRoutes, { feedback: deps.feedback, flushAudit: deps.flushAudit, maxItems: 1000 });
  await app.register(accessRoutes, { access: deps.access, actorOf, onChange: deps.accessChanged, limiter: deps.limiter, defaultRate: config.RATE_LIMIT_DEFAULT });
  return app;
}
