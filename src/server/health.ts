import type { FastifyInstance } from 'fastify';
import type { ModelPool } from '../inference/index.js';
import { FULL_BELOW_BYTES, type DataDiskProbe } from '../lib/disk-space.js';
import type { ClusterMember, Gathered } from './cluster-gather.js';

export interface HealthDeps {
  pool: ModelPool;
  draining: () => boolean;
  /** The data directory and its file system's space (SQLite database, artifacts, audit spill files). */
  dataDisk?: DataDiskProbe;
  /** While the database refuses audit records (spilled to disk meanwhile): since when and why. */
  auditRefusal?: () => { since: string; error: string } | undefined;
  /** While Redis cannot count rate limits: since when and why, and what RATE_LIMIT_FAIL does meanwhile. */
  rateLimits?: () => { since: string; error: string; policy: 'open' | 'closed' } | undefined;
  /** With WORKERS > 1: this worker's line to the primary, which gathers every worker's health. */
  cluster?: ClusterMember;
}

/** What a request gets while rate limits cannot be checked, by RATE_LIMIT_FAIL. */
const UNCHECKED = { open: 'requests are allowed without a limit', closed: 'requests with a limit are refused with 503' } as const;

type ModelState = { model: string; production?: number; serving?: number; error?: string };
type RolloutDown = { model: string; arm: 'canary' | 'shadow'; version: number; error?: string };

/** What one process's /health says of itself. */
export interface HealthReport {
  status: 'healthy' | 'degraded';
  model_loaded: boolean;
  models: ModelState[];
  unavailable?: ModelState[];
  stale?: ModelState[];
  rollouts_unavailable?: RolloutDown[];
  registry?: { reachable: false; since: string; error: string };
  data_dir?: { path: string; full: true; free_bytes: number };
  audit?: { written: false; since: string; error: string };
  rate_limits?: { enforced: false; policy: 'open' | 'closed'; since: string; error: string };
}

type Problems = Omit<HealthReport, 'status' | 'model_loaded' | 'models'>;

export interface WorkerHealth extends Problems {
  pid: number;
  status: HealthReport['status'] | 'unanswered' | 'starting';
  model_loaded?: boolean;
}

export type ClusterHealthReport = HealthReport & { workers: WorkerHealth[] };

const modelState = { type: 'object', properties: { model: { type: 'string' }, production: { type: 'integer' }, serving: { type: 'integer' }, error: { type: 'string' } } } as const;

/** The fields that make /health degraded, for the whole answer and for each worker. */
const problemProperties = {
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
    description: 'present while the disk holding MODELGATE_DATA_DIR is full (under 1 MiB free): models keep serving, changes to a SQLite database answer 503, audit records spill or are lost',
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
      'present while Redis (REDIS_URL) cannot count rate limits (unreachable, a read-only replica, a cluster node without REDIS_CLUSTER; or connected but refusing the counts: full under noeviction, writes stopped after a failed snapshot, an ACL user without the commands, too slow): RATE_LIMIT_FAIL says what requests get meanwhile (policy open: allowed without a limit; closed: 503)',
    properties: { enforced: { type: 'boolean' }, policy: { type: 'string', enum: ['open', 'closed'] }, since: { type: 'string' }, error: { type: 'string' } },
  },
} as const;

/** This process's health, as /health answers it with one worker. */
export function healthReport(deps: HealthDeps): HealthReport {
  const models = deps.pool.status();
  const inProduction = models.filter((m) => m.production !== undefined);
  const unavailable = inProduction.filter((m) => m.serving === undefined);
  const stale = inProduction.filter((m) => m.serving !== undefined && m.serving !== m.production);
  const lost = deps.pool.registryUnreachable;
  const rolloutsDown = deps.pool.rolloutsDown();
  const disk = deps.dataDisk?.();
  const full = disk?.usage && disk.usage.freeBytes < FULL_BELOW_BYTES ? { path: disk.dir, full: true as const, free_bytes: disk.usage.freeBytes } : undefined;
  const refused = deps.auditRefusal?.();
  const unlimited = deps.rateLimits?.();
  return {
    status: unavailable.length || stale.length || rolloutsDown.length || lost || full || refused || unlimited ? 'degraded' : 'healthy',
    model_loaded: inProduction.length > 0 && unavailable.length === 0,
    models,
    ...(unavailable.length ? { unavailable } : {}),
    ...(stale.length ? { stale } : {}),
    ...(rolloutsDown.length ? { rollouts_unavailable: rolloutsDown } : {}),
    ...(lost ? { registry: { reachable: false as const, ...lost } } : {}),
    ...(full ? { data_dir: full } : {}),
    ...(refused ? { audit: { written: false as const, ...refused } } : {}),
    ...(unlimited ? { rate_limits: { enforced: false as const, ...unlimited } } : {}),
  };
}

/**
 * With WORKERS > 1 a request reaches one worker, and each loads models and meets outages on its
 * own (a replacement still loading, a version one failed to load). The answer is every worker's:
 * degraded when any is or one does not answer, the problems of all (each named once), and each
 * worker's own in `workers`; `models` are the answering worker's.
 */
export function mergeWorkerHealth(own: HealthReport, gathered: Gathered<HealthReport>): ClusterHealthReport {
  const reports = gathered.parts.map((p) => p.value);
  const all = [own, ...reports];
  const union = <T>(pick: (r: HealthReport) => T[] | undefined, key: (t: T) => string): T[] => {
    const seen = new Map<string, T>();
    for (const r of all) for (const t of pick(r) ?? []) if (!seen.has(key(t))) seen.set(key(t), t);
    return [...seen.values()];
  };
  const problems: Problems = {};
  const unavailable = union(
    (r) => r.unavailable,
    (m) => m.model,
  );
  const stale = union(
    (r) => r.stale,
    (m) => `${m.model} ${m.serving}`,
  );
  const rolloutsDown = union(
    (r) => r.rollouts_unavailable,
    (d) => `${d.model} ${d.arm} ${d.version}`,
  );
  if (unavailable.length) problems.unavailable = unavailable;
  if (stale.length) problems.stale = stale;
  if (rolloutsDown.length) problems.rollouts_unavailable = rolloutsDown;
  for (const k of ['registry', 'data_dir', 'audit', 'rate_limits'] as const) {
    const v = all.find((r) => r[k] !== undefined)?.[k];
    if (v !== undefined) Object.assign(problems, { [k]: v });
  }
  const workers: WorkerHealth[] = [
    ...gathered.parts.map(({ pid, value: { models: _models, ...r } }) => ({ pid, ...r })),
    ...gathered.unanswered.map((pid) => ({ pid, status: 'unanswered' as const })),
    ...gathered.starting.map((pid) => ({ pid, status: 'starting' as const })),
  ].sort((a, b) => a.pid - b.pid);
  const degraded = all.some((r) => r.status === 'degraded') || gathered.unanswered.length > 0;
  return {
    status: degraded ? 'degraded' : 'healthy',
    model_loaded: all.every((r) => r.model_loaded),
    models: own.models,
    ...problems,
    workers,
  };
}

/**
 * Liveness, health and readiness. Migrations run before the app is built, so a server that
 * answers has migrated; readiness then waits for production models and fails while draining.
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const publicRoute = { scope: 'public' as const };
  deps.cluster?.answer('health', () => healthReport(deps));

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

  app.get(
    '/health',
    {
      config: publicRoute,
      schema: {
        tags: ['health'],
        summary:
          'Health with model state: healthy, or degraded naming each production model that cannot serve or serves an older version (always 200; load balancers use /readyz). With WORKERS > 1 it covers every worker, whichever answers',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['healthy', 'degraded'] },
              model_loaded: { type: 'boolean', description: 'true when at least one model is in production and every production model can serve (in every worker)' },
              models: { type: 'array', items: modelState, description: 'production models as the worker that answered serves them' },
              ...problemProperties,
              workers: {
                type: 'array',
                description:
                  "with WORKERS > 1: each worker process, its status and its own problems (the fields above, which list every worker's); unanswered: alive but did not answer within 2 s (blocked), which makes the server degraded; starting: forked and not yet serving",
                items: {
                  type: 'object',
                  properties: {
                    pid: { type: 'integer' },
                    status: { type: 'string', enum: ['healthy', 'degraded', 'unanswered', 'starting'] },
                    model_loaded: { type: 'boolean' },
                    ...problemProperties,
                  },
                },
              },
              workers_error: { type: 'string', description: "with WORKERS > 1, when the primary process could not be asked for the other workers' health: why (this worker's own health is the rest)" },
            },
          },
        },
      },
    },
    async () => {
      const own = healthReport(deps);
      if (!deps.cluster) return own;
      try {
        return mergeWorkerHealth(own, (await deps.cluster.ask('health')) as Gathered<HealthReport>);
      } catch (e) {
        return { ...own, status: 'degraded', workers_error: `${(e as Error).message}; this is one worker's health` };
      }
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
