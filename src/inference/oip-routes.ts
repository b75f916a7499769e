import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unseenCategoryWarning } from './unseen-category.js';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError, errorHeaders, logRequestError } from '../lib/errors.js';
import { BINARY_HEADER, binaryReply, readBinaryInputs, wantsBinary } from './oip-binary.js';
import { parseOipBody } from './oip-body.js';
import type { Row } from './encoder.js';
import { oipMetadata, oipOutputs, oipPayloads, OIP_DATATYPES } from './oip.js';
import type { ModelPool } from './pool.js';
import type { ScoreBatch } from './scoring.js';

export interface OipRouteDeps {
  pool: ModelPool;
  scoreBatch: ScoreBatch;
  maxInstances: number;
  /** Active versions of a model (metadata lists them). */
  versions: (model: string) => Promise<number[]>;
  /** Why the server is not ready (empty: ready). */
  notReady: () => string[];
  serverName: string;
  serverVersion: string;
  /** The server's own translation of any error into an AppError (Fastify's validation and body errors). */
  toAppError: (err: unknown) => AppError;
}

const errorBody = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const errors = Object.fromEntries([400, 401, 403, 404, 413, 415, 429, 500, 503].map((code) => [code, errorBody]));

const tensor = {
  type: 'object',
  // data, or parameters.binary_data_size with the binary data extension (filled in before validation)
  required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: { type: 'string', maxLength: 256 },
    shape: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1, maxItems: 8 },
    datatype: { type: 'string', description: OIP_DATATYPES.join(', ') },
    parameters: { type: 'object', additionalProperties: true, properties: { binary_data_size: { type: 'integer', minimum: 0 } } },
    data: { type: 'array' },
  },
} as const;

/** A response tensor: the request tensor's fields, none of them required. */
const outTensor = { type: 'object', properties: tensor.properties } as const;

const metadataReply = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    versions: { type: 'array', items: { type: 'string' } },
    platform: { type: 'string' },
    inputs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } } } },
    outputs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } } } },
    parameters: { type: 'object', additionalProperties: true },
  },
} as const;

type ModelParams = { name: string; version?: string };
const modelParams = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, version: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' } },
  required: ['name'],
} as const;

/**
 * The Open Inference Protocol v2 REST endpoints (KServe, Triton, MLServer clients speak it).
 * Scored through the same path as /v1: same auth scopes, rate limits, audit log, canary routing
 * and metrics. Errors take the protocol's shape, {"error": "..."}, with the usual status codes.
 */
export async function oipRoutes(fastify: FastifyInstance, deps: OipRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { pool } = deps;
  app.decorateRequest('oipBinary', null);
  // Only in this plugin's scope: /v1 keeps its own JSON parser and Content-Type check.
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser(['application/json', 'application/octet-stream'], { parseAs: 'buffer' }, parseOipBody);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseOipBody);
  app.setErrorHandler((err, request: FastifyRequest, reply: FastifyReply) => {
    const e = deps.toAppError(err);
    logRequestError(request.log, err, e);
    const reason = typeof e.details?.reason === 'string' ? `: ${e.details.reason}` : '';
    return reply
      .headers(errorHeaders(e))
      .code(e.status)
      .type('application/json')
      .send({ error: `${e.message}${reason}` });
  });

  app.get(
    '/v2',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['open inference protocol'],
        summary: 'Server metadata',
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } } } },
      },
    },
    async () => ({
      name: deps.serverName,
      version: deps.serverVersion,
      extensions: ['binary_tensor_data'],
    }),
  );
  app.get(
    '/v2/health/live',
    { config: { scope: 'public' }, schema: { tags: ['open inference protocol'], summary: 'Liveness', response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } } } },
    async () => ({ live: true }),
  );
  app.get(
    '/v2/health/ready',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['open inference protocol'],
        summary: 'Readiness (as /readyz): 200 when ready, else 503',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, 503: { type: 'object', properties: { ready: { type: 'boolean' }, error: { type: 'string' } } } },
      },
    },
    async (_req, reply) => {
      const reasons = deps.notReady();
      return reasons.length ? reply.code(503).send({ ready: false, error: reasons.join('; ') }) : { ready: true };
    },
  );

  /** The version a path names (pinned), or the one this request would be routed to (production or canary). */
  const servableOf = async (p: ModelParams, routingKey?: string) => pool.resolve(p.name, p.version === undefined ? { routingKey } : { version: Number(p.version) });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(
      prefix,
      {
        config: { scope: 'read' },
        schema: { tags: ['open inference protocol'], summary: 'Model metadata: inputs (one per feature) and outputs of its task', params: modelParams, response: { 200: metadataReply, ...errors } },
      },
      async (request) => {
        const { servable } = await pool.resolve(request.params.name, request.params.version === undefined ? { alias: 'production' } : { version: Number(request.params.version) });
        return oipMetadata(servable, await deps.versions(request.params.name));
      },
    );

    app.get(
      `${prefix}/ready`,
      {
        config: { scope: 'read' },
        schema: {
          tags: ['open inference protocol'],
          summary: 'Whether the model (or version) can serve: 200 ready, 503 not',
          params: modelParams,
          response: {
            200: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
            503: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' }, error: { type: 'string' } } },
            ...errors,
          },
        },
      },
      async (request, reply) => {
        try {
          await servableOf(request.params);
          return { name: request.params.name, ready: true };
        } catch (e) {
          if (e instanceof AppError && e.status === 404) throw e;
          const why = e instanceof AppError ? `${e.message}${typeof e.details?.reason === 'string' ? `: ${e.details.reason}` : ''}` : String(e);
          return reply.code(503).send({ name: request.params.name, ready: false, error: why });
        }
      },
    );

    app.post(
      `${prefix}/infer`,
      {
        config: { scope: 'infer' },
        schema: {
          tags: ['open inference protocol'],
          summary: 'Score rows sent as tensors: one per feature (BYTES for strings) or one [N,F] numeric matrix',
          params: modelParams,
          body: {
            type: 'object',
            required: ['inputs'],
            properties: {
              id: { type: 'string', maxLength: 256, description: 'echoed back; also the event id of the audited predictions and the canary routing key' },
              parameters: { type: 'object', additionalProperties: true, properties: { routing_key: { type: 'string', maxLength: 256 } } },
              inputs: { type: 'array', minItems: 1, maxItems: 1024, items: tensor },
              outputs: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: { type: 'object', additionalProperties: true } } } },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                model_name: { type: 'string' },
                model_version: { type: 'string' },
                id: { type: 'string' },
                parameters: { type: 'object', additionalProperties: true },
                outputs: { type: 'array', items: outTensor },
              },
              required: ['model_name', 'outputs'],
            },
            ...errors,
          },
        },
        // The binary extension's tensors get their data before the schema checks it.
        preValidation: async (request) => readBinaryInputs(request.body as never, request.oipBinary),
      },
      async (request, reply) => {
        const body = request.body;
        const routingKey = typeof body.parameters?.routing_key === 'string' ? body.parameters.routing_key : body.id;
        const { servable, alias, arm } = await servableOf(request.params, routingKey);
        const payloads = oipPayloads(body, servable.spec);
        if (payloads.length > deps.maxInstances) throw new AppError('VALIDATION_FAILED', `inputs: ${payloads.length} rows; send at most PREDICT_MAX_INSTANCES=${deps.maxInstances} per request`);
        const warnings: string[] = [];
        const rows: Row[] = payloads.map((p, i) => {
          const enc = servable.encoder.encode(p, `row[${i}]`);
          for (const f of enc.unseen ?? []) warnings.push(unseenCategoryWarning(`row[${i}]`, servable.spec.contract.features[f], enc.row[f] as string, servable.spec.contract.missing_category));
          return enc.row;
        });
        // Checked before scoring, so a request for an unknown output costs no model run.
        oipOutputs(servable, [], body.outputs);
        const scored = await deps.scoreBatch({ servable, arm, rows, payloads, eventId: body.id, keyId: request.principal?.id });
        const answer = {
          model_name: servable.spec.model,
          model_version: String(servable.spec.version),
          ...(body.id !== undefined ? { id: body.id } : {}),
          // The protocol's parameters are booleans, numbers or strings: the warnings as one string.
          parameters: { arm, ...(alias ? { alias } : {}), task: servable.task, cached: scored.filter((r) => r.cached).length, ...(warnings.length ? { warnings: warnings.join('; ') } : {}) },
          outputs: oipOutputs(
            servable,
            scored.map((r) => ({ id: r.id, presented: servable.present(r.outcome, r.decision) })),
            body.outputs,
          ),
        };
        const binary = binaryReply(answer, (name) => wantsBinary(body, name));
        if (!binary) return answer;
        return reply.header(BINARY_HEADER, binary.headerLength).type('application/octet-stream').send(binary.body);
      },
    );
  }
}
