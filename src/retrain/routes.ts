import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { errorReplies } from '../lib/schemas.js';
import { planDataWarning } from './plan-data.js';
import type { RetrainService } from './service.js';

export interface RetrainRouteDeps {
  retrain: RetrainService;
  actorOf: (request: FastifyRequest) => string;
}

const errors = errorReplies(400, 401, 403, 404, 409, 429, 503);
const tags = ['retrain'];
const params = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const plan = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    data: { type: 'string', description: 'where the latest training data is: an absolute path the servers can read, or s3://bucket/key' },
    canary_steps: { type: 'array', items: { type: 'number' }, description: 'the stepped canary the retrained version starts (empty: registered only)' },
    step_interval: { type: ['string', 'null'], description: 'how long each canary step must stay healthy (null: CANARY_STEP_INTERVAL)' },
    min_interval_ms: { type: 'integer', description: 'at most one planned retrain per this long' },
    max_metric_drop: { type: 'number', description: "how far below the current version's main metric a candidate may be" },
    created_at: { type: 'string' },
    created_by: { type: 'string' },
  },
} as const;
const run = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    model: { type: 'string' },
    trigger: { type: 'string', description: 'manual (modelgate retrain) or monitor (the plan, when a report recommended retraining)' },
    status: {
      type: 'string',
      description: 'running, registered, canary_started, gated_out, unchanged (the data was trained on already), failed, interrupted (stopped by a shutdown or Ctrl-C), lost (its process fell silent)',
    },
    from_version: { type: ['integer', 'null'] },
    candidate_version: { type: ['integer', 'null'] },
    started_at: { type: 'string' },
    finished_at: { type: ['string', 'null'] },
    detail: { type: ['object', 'null'], additionalProperties: true, description: 'the gates and metrics, the error, or why nothing was trained' },
  },
} as const;

/** What a retrain does with its candidate, set by a plan and by Retrain now alike. */
const candidateSettings = {
  canary_steps: { type: 'array', items: { type: 'number' }, maxItems: 20, description: 'e.g. [10, 50, 100]: start a stepped canary of the candidate (default: register only)' },
  step_interval: { type: 'string', maxLength: 32, description: 'with canary_steps: how long each step must stay healthy, e.g. 30m' },
  max_metric_drop: { type: 'number', minimum: 0, description: 'the main metric may be this far below the current version (default 0)' },
} as const;

/** A model's retrain plan and its runs: what the CLI's `retrain plan set|show|remove` does, for the console and scripts. */
export async function retrainRoutes(fastify: FastifyInstance, deps: RetrainRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { retrain } = deps;

  app.get(
    '/v1/models/:name/retrain',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: "A model's retrain plan (null without one) and its recent retrain runs, newest first",
        params,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: 'runs to list, 1 to 100 (default 20)' } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { model: { type: 'string' }, plan: { anyOf: [plan, { type: 'null' }] }, runs: { type: 'array', items: run } } },
          ...errors,
        },
      },
    },
    async (request) => retrain.status(request.params.name, Math.min(100, Math.max(1, Number(request.query.limit ?? 20)))),
  );

  app.put(
    '/v1/models/:name/retrain',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: "Create or replace a model's retrain plan: what the monitor's leader runs, once per min_interval, when a scheduled report recommends retraining",
        params,
        body: {
          type: 'object',
          properties: {
            data: { type: 'string', minLength: 1, maxLength: 2048, description: 'an absolute path the servers can read, or s3://bucket/key' },
            ...candidateSettings,
            min_interval: { type: 'string', maxLength: 32, description: 'at most one planned retrain per this long (default 7d)' },
          },
          required: ['data'],
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { ...plan.properties, warnings: { type: 'array', items: { type: 'string' } } } }, ...errors },
      },
    },
    async (request) => {
      const b = request.body;
      const p = await retrain.setPlan({
        model: request.params.name,
        data: b.data,
        canarySteps: b.canary_steps,
        stepInterval: b.step_interval,
        minInterval: b.min_interval,
        maxMetricDrop: b.max_metric_drop,
        actor: deps.actorOf(request),
      });
      const warning = await planDataWarning(p.data);
      return { ...p, ...(warning ? { warnings: [warning] } : {}) };
    },
  );

  app.post(
    '/v1/models/:name/retrain/runs',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary:
          "Retrain now: production (or `version`) trained again from its run record on `data`, on this server's training thread; answers 202 once the run is recorded, and GET /v1/models/:name/retrain shows how it goes",
        params,
        body: {
          type: 'object',
          properties: {
            data: { type: 'string', minLength: 1, maxLength: 2048, description: 'an absolute path this server can read, or s3://bucket/key' },
            ...candidateSettings,
            version: { type: 'integer', minimum: 1, description: 'the version to retrain and to beat (default production)' },
            same_data: {
              type: 'boolean',
              description: 'train even on data a version was trained on already, and register a candidate that is a registered version again (default: nothing new, said so in the run)',
            },
          },
          required: ['data'],
          additionalProperties: false,
        },
        response: {
          202: { type: 'object', properties: { id: { type: 'string' }, model: { type: 'string' }, status: { type: 'string', enum: ['running'] }, data: { type: 'string' } } },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const started = await retrain.start({
        model: request.params.name,
        data: b.data,
        fromVersion: b.version,
        canarySteps: b.canary_steps,
        stepInterval: b.step_interval,
        maxMetricDrop: b.max_metric_drop,
        sameData: b.same_data,
        actor: deps.actorOf(request),
      });
      return reply.code(202).send(started);
    },
  );

  app.delete(
    '/v1/models/:name/retrain',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: "Remove a model's retrain plan (retraining is then manual only; its runs stay listed)",
        params,
        response: { 200: { type: 'object', properties: { model: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors },
      },
    },
    async (request) => ({ model: request.params.name, removed: await retrain.removePlan(request.params.name) }),
  );
}
