import type { FastifyInstance } from 'fastify';
import type { ModelPool } from '../inference/index.js';
import { FULL_BELOW_BYTES, type DataDiskProbe } from '../lib/disk-space.js';

export interface HealthDeps {
  pool: ModelPool;
  draining: () => boolean;
  /** The data directory and its file system's space (SQLite database, artifacts, audit spill files). */
  dataDisk?: DataDiskProbe;
  /** While the database refuses audit records (spilled to disk meanwhile): since when and why. */
  auditRefusal?: () => { since: string; error: string } | undefined;
  /** While Redis cannot count rate limits: since when and why, and what RATE_LIMIT_FAIL does meanwhile. */
  rateLimits?: () => { since: string; error: string; policy: 'open' | 'closed' } | undefined;
}

/** What a request gets while rate limits cannot be checked, by RATE_LIMIT_FAIL. */
const UNCHECKED = { open: 'requests are allowed without a limit', closed: 'requests with a limit are refused with 503' } as const;

/**
 * Liveness, health and readiness. Migrations run before the app is built, so a server that
 * answers has migrated; readiness then waits for production models and fails while draining.
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const publicRoute = { scope: 'public' as const };

  app.get(
    '/healthz',
    {
      config: publicRoute,
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, service: { type: 'string' }, timestamp: { type: 'string' } } } },
      },
    },
    async () => ({ ok: true, service: 'modelgate', timestamp: new Date().toISOString() }),
  );

  const modelState = { type: 'object', properties: { model: { type: 'string' }, production: { type: 'integer' }, serving: { type: 'integer' }, error: { type: 'string' } } } as const;
  app.get(
    '/health',
    {
      config: publicRoute,
      schema: {
        tags: ['health'],
        summary: 'Health with model state: healthy, or degraded naming each production model that cannot serve or serves an older version (always 200; load balancers use /readyz)',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['healthy', 'degraded'] },
              model_loaded: { type: 'boolean', description: 'true when at least one model is in production and every production model can serve' },
              models: { type: 'array', items: modelState },
              unavailable: { type: 'array', items: modelState, description: 'production models that answer 503: nothing of theirs is loaded' },
              stale: { type: 'array', items: modelState, description: 'production models serving an older version because theirs failed to load' },
              rollouts_unavailable: {
                type: 'array',
                description: 'canary and shadow versions of running rollouts that failed to load here: they get no traffic (retried every 30 s)',
                items: { type: 'object', properties: { model: { type: 'string' }, arm: { type: 'string', enum: ['canary', 'shadow'] }, version: { type: 'integer' }, error: { type: 'string' } } },
              },
              registry: {
                type: 'object',
                description: "present while the registry's database cannot be read: models keep serving as last loaded, routes that need the database answer 503",
                properties: { reachable: { type: 'boolean' }, since: { type: 'string' }, error: { type: 'string' } },
              },
              data_dir: {
                type: 'object',
                description:
                  'present while the disk holding MODELGATE_DATA_DIR is full (under 1 MiB free): models keep serving, changes to a SQLite database answer 503, audit records spill or are lost',
                properties: { path: { type: 'string' }, full: { type: 'boolean' }, free_bytes: { type: 'integer' } },
              },
              audit: {
                type: 'object',
                description:
                  'present while the database refuses audit records (down, full, or a standby that takes no writes): they wait in spill files under the data directory (lost, and counted, if those cannot be written) and are written once it takes them again',
                properties: { written: { type: 'boolean' }, since: { type: 'string' }, error: { type: 'string' } },
              },
              rate_limits: {
                type: 'object',
                description:
                  'present while Redis (REDIS_URL) cannot count rate limits (unreachable, a read-only replica, a cluster node without REDIS_CLUSTER): RATE_LIMIT_FAIL says what requests get meanwhile (policy open: allowed without a limit; closed: 503)',
                properties: { enforced: { type: 'boolean' }, policy: { type: 'string', enum: ['open', 'closed'] }, since: { type: 'string' }, error: { type: 'string' } },
              },
            },
          },
        },
      },
    },
    async () => {
      const models = deps.pool.status();
      const inProduction = models.filter((m) => m.production !== undefined);
      const unavailable = inProduction.filter((m) => m.serving === undefined);
      const stale = inProduction.filter((m) => m.serving !== undefined && m.serving !== m.production);
      const lost = deps.pool.registryUnreachable;
      const rolloutsDown = deps.pool.rolloutsDown();
      const disk = deps.dataDisk?.();
      const full = disk?.usage && disk.usage.freeBytes < FULL_BELOW_BYTES ? { path: disk.dir, full: true, free_bytes: disk.usage.freeBytes } : undefined;
      const refused = deps.auditRefusal?.();
      const unlimited = deps.rateLimits?.();
      return {
        status: unavailable.length || stale.length || rolloutsDown.length || lost || full || refused || unlimited ? 'degraded' : 'healthy',
        model_loaded: inProduction.length > 0 && unavailable.length === 0,
        models,
        ...(unavailable.length ? { unavailable } : {}),
        ...(stale.length ? { stale } : {}),
        ...(rolloutsDown.length ? { rollouts_unavailable: rolloutsDown } : {}),
        ...(lost ? { registry: { reachable: false, ...lost } } : {}),
        ...(full ? { data_dir: full } : {}),
        ...(refused ? { audit: { written: false, ...refused } } : {}),
        ...(unlimited ? { rate_limits: { enforced: false, ...unlimited } } : {}),
      };
    },
  );

  const readinessRoute = {
    config: publicRoute,
    schema: {
      tags: ['health'],
      summary: 'Readiness: migrations ran and every production model is loaded',
      response: {
        200: { type: 'object', properties: { ready: { type: 'boolean' }, warnings: { type: 'array', items: { type: 'string' } } } },
        503: { type: 'object', properties: { ready: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } } },
      },
    },
  };
  const ready = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const { reasons, warnings } = readiness(deps);
    if (reasons.length) return reply.code(503).send({ ready: false, reasons });
    return { ready: true, ...(warnings.length ? { warnings } : {}) };
  };
  app.get('/readyz', readinessRoute, ready);
  app.get('/ready', readinessRoute, ready);
}

/** What /readyz checks: reasons make it 503; warnings are said while it stays ready. */
export function readiness(deps: Pick<HealthDeps, 'pool' | 'draining' | 'auditRefusal' | 'rateLimits'>): { reasons: string[]; warnings: string[] } {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (deps.draining()) reasons.push('shutting down');
  if (!deps.pool.initialized) reasons.push('models are still loading');
  for (const m of deps.pool.status()) {
    if (m.production === undefined) continue;
    if (m.serving === undefined) reasons.push(`${m.model}: production version ${m.production} is not loaded${m.error ? `: ${m.error}` : ''}`);
    // Still serving the previous version: ready (taking the pod out would drop traffic), but say so.
    else if (m.serving !== m.production) warnings.push(`${m.model}: production version ${m.production} failed to load${m.error ? ` (${m.error})` : ''}; version ${m.serving} keeps serving`);
  }
  // Still ready: what is loaded keeps serving (and the audit log spills), so taking the pod out would only drop traffic.
  const lost = deps.pool.registryUnreachable;
  if (lost) warnings.push(`the registry's database cannot be read since ${lost.since} (${lost.error}); serving the models as last loaded`);
  const refused = deps.auditRefusal?.();
  if (refused) warnings.push(`the database refuses audit records since ${refused.since} (${refused.error}); they wait in spill files until it takes them`);
  // Still ready: every replica shares the one Redis, so another pod would fare no better.
  const unlimited = deps.rateLimits?.();
  if (unlimited) warnings.push(`rate limits cannot be counted in Redis since ${unlimited.since} (${unlimited.error}); ${UNCHECKED[unlimited.policy]} (RATE_LIMIT_FAIL=${unlimited.policy})`);
  return { reasons, warnings };
}
