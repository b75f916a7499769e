import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import type { RolloutService } from './service.js';

export interface RolloutRouteDeps {
  rollouts: RolloutService;
  onChange: () => Promise<void>;
  actorOf: (request: FastifyRequest) => string;
  /** The model's canary and shadow versions that did not load on this server (they get no traffic here). */
  notLoaded?: (model: string) => { arm: 'canary' | 'shadow'; version: number; error?: string }[];
}

const errors = errorReplies(400, 401, 403, 404, 409, 429, 503);
const anyObject = { type: 'object', additionalProperties: true } as const;
const modelParam = { type: 'object', properties: { model: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['model'] } as const;
const percent = { type: 'number', minimum: 0, maximum: 100 } as const;
const versionRef = {
  anyOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', maxLength: 32 },
  ],
  description: 'version number, or a slot name (blue, green…)',
} as const;

export async function rolloutRoutes(fastify: FastifyInstance, deps: RolloutRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { rollouts } = deps;
  /** The rollout's state, with a warning for each of its versions this server could not load. */
  const statusOf = async (model: string) => {
    const status = await rollouts.status(model);
    const down = deps.notLoaded?.(model) ?? [];
    if (!down.length) return status;
    const warnings = down.map(
      (d) =>
        `${d.arm} version ${d.version} did not load on this server${d.error ? ` (${d.error})` : ''}: it gets no traffic here until it does; the server retries every 30 s, and GET /health lists it`,
    );
    return { ...status, warnings: [...warnings, ...status.warnings] };
  };

  app.post(
    '/v1/canary',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rollout'],
        summary: 'Start a canary; for the one running, change what the request gives (percent, steps, rules, auto_promote) and answer with `changed`',
        body: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            product: { type: 'string', description: 'older name for model' },
            canary_version: versionRef,
            canary_model_id: { ...versionRef, description: 'older name for canary_version' },
            production_version: { type: 'integer', minimum: 1, description: 'default: the current version of target' },
            production_model_id: { type: 'integer', minimum: 1, description: 'older name for production_version' },
            canary_percent: percent,
            steps: { type: 'array', items: percent, minItems: 1, maxItems: 20 },
            step_interval: { type: 'string', description: 'e.g. 10m; how long each step must stay healthy' },
            min_requests: { type: 'integer', minimum: 1 },
            analysis: {
              type: 'object',
              description:
                'rollback rules; each (but max_error_ratio, max_score_psi and custom rules on request metrics) rolls back only when broken beyond chance, by more than 3.09 standard errors of its counts; broken by less, the canary holds its step (verdict insufficient_data, with the reason)',
              properties: {
                max_error_ratio: { type: 'number', exclusiveMinimum: 0 },
                max_p95_ratio: { type: 'number', exclusiveMinimum: 0 },
                max_decision_rate_delta_pp: { type: 'number', exclusiveMinimum: 0 },
                max_score_psi: { type: 'number', exclusiveMinimum: 0 },
                min_scored_per_arm: {
                  type: 'integer',
                  minimum: 1,
                  description: 'model-scored requests (cache hits not counted) each arm needs before any automatic decision; default CANARY_MIN_SCORED',
                },
                custom: {
                  type: 'array',
                  items: { type: 'object', properties: { metric: { type: 'string' }, op: { type: 'string' }, threshold: { type: 'number' } }, required: ['metric', 'op', 'threshold'] },
                },
                outcomes: {
                  type: 'object',
                  description: "judge the canary on real outcomes (feedback on each arm's predictions), once both arms have min_labels_per_arm",
                  properties: {
                    min_labels_per_arm: { type: 'integer', minimum: 1 },
                    max_fpr_delta_pp: { type: 'number', exclusiveMinimum: 0, description: 'binary: false-positive rates within ± this many points' },
                    max_accuracy_drop_pp: { type: 'number', exclusiveMinimum: 0, description: 'binary, multiclass: canary accuracy at most this many points below production' },
                    max_auc_drop: { type: 'number', exclusiveMinimum: 0, description: 'binary: canary ROC AUC at most this far below production' },
                    max_mae_ratio: { type: 'number', exclusiveMinimum: 0, description: 'regression: canary MAE at most this many times production' },
                  },
                  additionalProperties: false,
                },
              },
              additionalProperties: false,
            },
            auto_promote: { type: 'boolean' },
            target: { type: 'string', description: 'alias the canary competes for and fills on promotion (default production)' },
            accept_new_inputs: {
              type: 'boolean',
              description: "start it even when the canary version takes none of the target version's features (409 CONFLICT otherwise, naming them)",
            },
          },
          additionalProperties: false,
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      const b = request.body;
      const model = b.model ?? b.product;
      if (!model) throw new AppError('VALIDATION_FAILED', 'body.model: is required (older clients send product)', { field: 'body.model' });
      const canary = b.canary_version ?? b.canary_model_id;
      if (canary === undefined) throw new AppError('VALIDATION_FAILED', 'body.canary_version: is required (older clients send canary_model_id)', { field: 'body.canary_version' });
      const started = await rollouts.startCanary({
        model,
        canary_version: canary,
        production_version: b.production_version ?? b.production_model_id,
        canary_percent: b.canary_percent,
        steps: b.steps,
        step_interval: b.step_interval,
        min_requests: b.min_requests,
        analysis: b.analysis,
        auto_promote: b.auto_promote,
        target: b.target,
        accept_new_inputs: b.accept_new_inputs,
        actor: deps.actorOf(request),
      });
      await deps.onChange();
      // For a canary already running: what this request changed ({} when it was as asked already).
      const status = await statusOf(model);
      return { ...status, warnings: [...(started.warnings ?? []), ...status.warnings], ...(started.changed ? { changed: started.changed } : {}) };
    },
  );

  app.get(
    '/v1/canary',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['rollout'],
        summary: 'Every model with a canary or shadow running: versions and percents (GET /v1/canary/:model for one in full)',
        response: {
          200: {
            type: 'object',
            properties: {
              rollouts: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    model: { type: 'string' },
                    target: { type: 'string' },
                    production_version: { type: ['integer', 'null'] },
                    canary_version: { type: ['integer', 'null'] },
                    canary_percent: { type: 'number' },
                    step: { type: ['integer', 'null'] },
                    steps: { type: 'array', items: { type: 'number' } },
                    shadow_version: { type: ['integer', 'null'] },
                    shadow_percent: { type: 'number' },
                  },
                },
              },
            },
            required: ['rollouts'],
          },
          ...errors,
        },
      },
    },
    async () => ({
      rollouts: (await rollouts.list()).filter((r) => r.canary_version !== null || r.shadow_version !== null).map((r) => ({ ...r, step: r.step_index >= 0 ? r.step_index + 1 : null })),
    }),
  );

  app.get(
    '/v1/canary/:model',
    {
      config: { scope: 'read' },
      schema: { tags: ['rollout'], summary: 'Rollout state: versions, percent, step, per-arm numbers, verdict, shadow agreement', params: modelParam, response: { 200: anyObject, ...errors } },
    },
    async (request) => statusOf(request.params.model),
  );

  app.post(
    '/v1/canary/:model/stop',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rollout'],
        summary: 'Stop the canary (recorded as a manual rollback naming the actor and reason); with no canary running, answers stopped: false',
        params: modelParam,
        body: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      const r = await rollouts.stopCanary(request.params.model, deps.actorOf(request), request.body?.reason);
      await deps.onChange();
      return r;
    },
  );

  app.post(
    '/v1/canary/:model/promote',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rollout'],
        summary: 'Make the canary the target version; the previous one stays the rollback target',
        params: modelParam,
        body: {
          type: 'object',
          properties: {
            archive_previous: { type: 'boolean' },
            canary_version: {
              type: 'integer',
              minimum: 1,
              description: 'only if the running canary is this version: a page or script that judged one canary does not promote another started since (409)',
            },
          },
          additionalProperties: false,
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      const b = request.body;
      const r = await rollouts.promoteCanary(request.params.model, { archive_previous: b?.archive_previous, canaryVersion: b?.canary_version, actor: deps.actorOf(request) });
      await deps.onChange();
      return r;
    },
  );

  app.post(
    '/v1/shadow',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['rollout'],
        summary: 'Score a copy of live requests with another version, off the request path',
        body: {
          type: 'object',
          required: ['model', 'version'],
          properties: {
            model: { type: 'string' },
            version: { type: 'integer', minimum: 1 },
            percent: { ...percent, description: 'default 100; for the shadow already running, its percent stays unless given' },
          },
          additionalProperties: false,
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      await rollouts.setShadow(request.body.model, request.body.version, request.body.percent, deps.actorOf(request));
      await deps.onChange();
      return statusOf(request.body.model);
    },
  );

  app.post(
    '/v1/shadow/:model/stop',
    { config: { scope: 'admin' }, schema: { tags: ['rollout'], summary: 'Stop shadow scoring', params: modelParam, response: { 200: anyObject, ...errors } } },
    async (request) => {
      const { stopped } = await rollouts.setShadow(request.params.model, null, undefined, deps.actorOf(request));
      if (stopped) await deps.onChange();
      // stopped false: no shadow was running (not an error, as a canary's stop).
      return { ...(await rollouts.status(request.params.model)), stopped };
    },
  );

  app.get(
    '/v1/rollbacks',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['rollout'],
        summary: 'Canary rollbacks, newest first',
        querystring: { type: 'object', properties: { model: { type: 'string' }, limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1-1000, default 100' } } },
        response: {
          200: { type: 'object', properties: { rollbacks: { type: 'array', items: anyObject }, total: { type: 'integer', description: 'rows matching the filter (all pages), not the page size' } } },
          ...errors,
        },
      },
    },
    async (request) => {
      const [rows, total] = await Promise.all([rollouts.rollbacks(request.query.model, Number(request.query.limit ?? 100)), rollouts.countRollbacks(request.query.model)]);
      return { rollbacks: rows, total };
    },
  );

  app.get(
    '/v1/canary/:model/events',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['rollout'],
        summary: 'Rollout transitions (start, step, percent, stop, promote, rollback, shadow) with their actors',
        params: modelParam,
        querystring: { type: 'object', properties: { limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1-1000, default 100' } } },
        response: { 200: { type: 'object', properties: { events: { type: 'array', items: anyObject } } }, ...errors },
      },
    },
    async (request) => ({ events: await rollouts.events(request.params.model, Number(request.query.limit ?? 100)) }),
  );
}
