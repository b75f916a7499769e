import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import type { RegistryService } from './service.js';
import { TASKS } from '../inference/index.js';

export interface RegistryRouteDeps {
  registry: RegistryService;
  /** Called after a change so this replica serves it at once (others follow by polling). */
  onChange: () => Promise<void>;
  actorOf: (request: FastifyRequest) => string;
}

const errors = errorReplies(400, 401, 403, 404, 409, 429, 503);
const nameParam = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const aliasesSchema = { type: 'object', additionalProperties: { type: 'integer' }, description: 'alias → version' } as const;
const engineSchema = {
  type: ['object', 'null'],
  description: 'Which engine serves the version, as last recorded at registration or by a server loading it; null before either happened',
  properties: {
    engine: { type: 'string', enum: ['compiled', 'onnxruntime'], description: 'compiled: JavaScript proven equal to onnxruntime on the check rows; onnxruntime: the reason says why' },
    reason: { type: 'string', description: 'why the compiled engine does not serve it (an operator, attribute or difference)' },
    memory_bytes: { type: 'integer', description: 'memory the loaded version holds' },
    checked_at: { type: 'string' },
  },
} as const;
const versionSummary = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    status: { type: 'string', enum: ['active', 'archived'] },
    onnx_sha256: { type: 'string' },
    size_bytes: { type: 'integer' },
    run_id: { type: ['string', 'null'], description: 'training run that produced it' },
    description: { type: ['string', 'null'], description: "this version's description (its manifest's); the model's own is the one its first version brought" },
    task: { type: 'string', enum: TASKS, description: 'what the version predicts: binary (score = positive-class probability), multiclass (label, probabilities), regression (value)' },
    classes: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, description: 'multiclass: the class labels, in probability order' },
    positive_class: {
      anyOf: [{ type: 'string' }, { type: 'integer' }],
      description: 'binary, when the graph names its classes: the class whose probability is the score (its label is 1 in feedback)',
    },
    created_at: { type: 'string' },
    created_by: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
    decisions: {
      type: ['array', 'null'],
      items: { type: 'string' },
      description: "what its policy decides (threshold, bands and value policies), in the policy's order; null for a class policy, whose decisions are the classes",
    },
    inputs_unlike_production: {
      type: ['string', 'null'],
      description:
        'what requests made for the production version meet in this one (features they lack, or send as another kind of value); null when it takes them all as they are, or there is no production',
    },
    engine: engineSchema,
    held_out: {
      type: ['object', 'null'],
      description:
        "the task's main metric (binary roc_auc, multiclass accuracy, regression r2) as the version's manifest records it: held out in training, or what an import brought; null without one",
      properties: { metric: { type: 'string', enum: ['roc_auc', 'accuracy', 'r2'] }, value: { type: 'number' } },
    },
  },
} as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const forceProps = {
  force: { type: 'boolean', description: 'When a canary of this alias is running: stop it first (recorded as a rollback with the reason) instead of answering 409 CANARY_RUNNING' },
  reason: { type: 'string', maxLength: 500, description: 'Why (recorded with a forced canary stop)' },
} as const;
const aliasChange = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    alias: { type: 'string' },
    version: { type: 'integer' },
    previous_version: { type: ['integer', 'null'] },
    changed: { type: 'boolean', description: 'false when the alias already named the version, or the version already had the status: nothing was recorded, sent or reloaded (absent from a rollback)' },
    rolled_back_from: { type: 'integer' },
    status: { type: 'string' },
    aliases: aliasesSchema,
    warnings: { type: 'array', items: { type: 'string' }, description: 'the alias now takes other inputs, or decides other things, than the version it moved from: what its clients meet' },
  },
} as const;

export async function registryRoutes(fastify: FastifyInstance, deps: RegistryRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { registry } = deps;

  app.get(
    '/v1/models',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['registry'],
        summary: 'List models with their aliases',
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              models: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    description: { type: ['string', 'null'] },
                    created_at: { type: 'string' },
                    task: { type: ['string', 'null'], description: 'task of the latest version' },
                    latest_version: { type: ['integer', 'null'] },
                    version_count: { type: 'integer' },
                    aliases: aliasesSchema,
                    production_engine: { ...engineSchema, description: 'engine of the production version, as last recorded' },
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    async () => {
      const models = await registry.listModels();
      return { models, total: models.length };
    },
  );

  app.get(
    '/v1/models/:name',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['registry'],
        summary: 'One model: versions, aliases and alias history',
        params: nameParam,
        response: {
          200: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              description: { type: ['string', 'null'], description: 'the description the first version brought; each version has its own' },
              created_at: { type: 'string' },
              aliases: aliasesSchema,
              versions: { type: 'array', items: versionSummary },
              alias_history: { type: 'array', items: anyObject },
              rollback_to: {
                type: 'object',
                additionalProperties: { type: ['integer', 'null'] },
                description: 'per alias, the version a rollback would point it at; null when there is none to go back to',
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => registry.getModel(request.params.name),
  );

  app.get(
    '/v1/models/:name/versions/:version',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['registry'],
        summary: 'One version: manifest, contract, policy and metrics',
        params: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            version: { type: 'string', pattern: '^([1-9][0-9]{0,8}|[a-z][a-z0-9_-]{0,31})$', description: 'a version number, or an alias or slot name (production, blue…)' },
          },
          required: ['name', 'version'],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              ...versionSummary.properties,
              model: { type: 'string' },
              manifest_sha256: { type: 'string' },
              contract: anyObject,
              policy: anyObject,
              metrics: anyObject,
              manifest: anyObject,
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const ref = request.params.version;
      return registry.getVersion(request.params.name, /^[0-9]+$/.test(ref) ? Number(ref) : await registry.versionOfAlias(request.params.name, ref));
    },
  );

  app.post(
    '/v1/models/:name/promote',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['lifecycle'],
        summary: 'Point an alias (production or a slot) at a version, activate a slot, or archive a version',
        params: nameParam,
        body: {
          type: 'object',
          properties: {
            version: { type: 'integer', minimum: 1 },
            run_id: { type: 'string', maxLength: 200, description: 'instead of version: the version this training run registered' },
            target: { type: 'string', default: 'production', description: 'production, archived, active, or a slot such as blue/green' },
            activate: { type: 'boolean', description: 'With a slot target: point production at the slot' },
            from_version: { type: 'integer', minimum: 1, description: 'only if the alias is at this version now: a guard against undoing a move made meanwhile (409 when it is not)' },
            slot_version: {
              type: 'integer',
              minimum: 1,
              description: 'with activate: only if the slot holds this version now (409 when it is not), so production gets the version the caller saw there',
            },
            accept_new_inputs: {
              type: 'boolean',
              description:
                "move the alias even to a version that takes none of its version's features (409 CONFLICT otherwise, naming them: a graph registered under the wrong model name, almost always)",
            },
            ...forceProps,
          },
          additionalProperties: false,
        },
        response: { 200: aliasChange, ...errors },
      },
    },
    async (request) => {
      const b = request.body ?? {};
      if (b.version !== undefined && b.run_id !== undefined) throw new AppError('BAD_REQUEST', 'give either version or run_id, not both', { field: 'run_id' });
      const target = b.target ?? 'production';
      if (b.from_version !== undefined && (target === 'archived' || target === 'active'))
        throw new AppError('BAD_REQUEST', `from_version guards an alias move; marking a version ${target} moves no alias`, { field: 'from_version' });
      const version = b.run_id !== undefined ? await registry.versionOfRun(request.params.name, b.run_id) : b.version;
      const result = await registry.promote({
        model: request.params.name,
        target,
        version,
        expectPrevious: b.from_version,
        expectSlot: b.slot_version,
        activate: b.activate,
        force: b.force,
        reason: b.reason,
        acceptNewInputs: b.accept_new_inputs,
        actor: deps.actorOf(request),
      });
      await deps.onChange();
      return result;
    },
  );

  app.post(
    '/v1/models/:name/rollback',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['lifecycle'],
        summary: "Restore an alias's previous version (production unless a slot is given)",
        params: nameParam,
        body: {
          type: 'object',
          properties: {
            slot: { type: 'string' },
            version: { type: 'integer', minimum: 1, description: 'only if the alias is at this version now: a guard against rolling back twice (409 when it is not)' },
            ...forceProps,
          },
          additionalProperties: false,
        },
        response: { 200: aliasChange, ...errors },
      },
    },
    async (request) => {
      const b = request.body ?? {};
      const result = await registry.rollback({ model: request.params.name, slot: b.slot, expectVersion: b.version, force: b.force, reason: b.reason, actor: deps.actorOf(request) });
      await deps.onChange();
      return result;
    },
  );
}
