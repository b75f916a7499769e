import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { errorReplies } from '../lib/schemas.js';
import { parseDuration } from '../lib/duration.js';
import { SCOPES } from './credentials.js';
import type { AccessService } from './service.js';
import type { RateLimiter } from './limiter.js';

export interface AccessRouteDeps {
  access: AccessService;
  actorOf: (request: FastifyRequest) => string;
  /** After a change here, so this process stops honouring a revoked token before its next poll. */
  onChange?: () => Promise<void>;
  limiter: RateLimiter;
  /** RATE_LIMIT_DEFAULT, as configured. */
  defaultRate?: string;
}

const errors = errorReplies(400, 401, 403, 404, 409, 429, 503);
const nullableString = { type: ['string', 'null'] } as const;

const keySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'first characters of the current token, to recognise it' },
    scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] } },
    rate_limit: nullableString,
    status: { type: 'string', enum: ['active', 'expired', 'revoked'] },
    expires_at: nullableString,
    created_at: { type: 'string' },
    created_by: { type: 'string' },
    rotated_at: nullableString,
    rotated_by: nullableString,
    previous_valid_until: nullableString,
    revoked_at: nullableString,
    revoked_by: nullableString,
    last_used_at: nullableString,
  },
  required: ['id', 'name', 'prefix', 'scopes', 'status', 'created_at'],
} as const;

const withToken = {
  type: 'object',
  properties: { key: keySchema, token: { type: 'string', description: 'shown once: store it now; only its SHA-256 is kept' } },
  required: ['key', 'token'],
} as const;

const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

export async function accessRoutes(fastify: FastifyInstance, deps: AccessRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { access } = deps;
  const changed = async <T>(result: T): Promise<T> => {
    await deps.onChange?.();
    return result;
  };

  app.post(
    '/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Create an API key; the token is in this reply only',
        body: {
          type: 'object',
          required: ['name', 'scopes'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            scopes: { type: 'array', minItems: 1, maxItems: 4, items: { type: 'string', enum: [...SCOPES] }, description: 'admin implies every other scope' },
            rate: { type: 'string', maxLength: 32, description: 'requests per window, e.g. 100/s; default RATE_LIMIT_DEFAULT' },
            expires: { type: 'string', maxLength: 40, description: 'lifetime (90d) or the time it ends (2027-06-30, 2027-06-30T18:00:00Z); default never' },
          },
        },
        response: { 201: withToken, ...errors },
      },
    },
    async (request, reply) => {
      const created = await changed(await access.create({ ...request.body, actor: deps.actorOf(request) }));
      reply.code(201);
      return created;
    },
  );

  app.get(
    '/v1/whoami',
    {
      config: { scope: 'signed-in' },
      schema: {
        tags: ['access'],
        summary: 'Who the bearer token acts as and what it may do (the console signs in with it)',
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, kind: { type: 'string' }, name: { type: ['string', 'null'] }, scopes: { type: 'array', items: { type: 'string' } } },
            required: ['id', 'kind', 'name', 'scopes'],
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const p = request.principal!;
      return { id: p.id, kind: p.kind, name: p.name ?? null, scopes: [...p.scopes] };
    },
  );

  app.get(
    '/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Every API key (never a token)',
        response: {
          200: {
            type: 'object',
            properties: {
              keys: { type: 'array', items: keySchema },
              default_rate: { type: ['string', 'null'], description: "this server's RATE_LIMIT_DEFAULT: the rate of keys with none of their own (null: they are not limited)" },
            },
            required: ['keys', 'default_rate'],
          },
          ...errors,
        },
      },
    },
    async () => ({
      keys: await access.list(),
      default_rate: deps.defaultRate ?? null,
    }),
  );

  app.get('/v1/keys/:id', { config: { scope: 'admin' }, schema: { tags: ['access'], summary: 'One API key', params: idParam, response: { 200: keySchema, ...errors } } }, async (request) =>
    access.get(request.params.id),
  );

  app.delete(
    '/v1/keys/:id',
    {
      config: { scope: 'admin' },
      schema: { tags: ['access'], summary: 'Revoke an API key: refused from now on, on every replica within a second', params: idParam, response: { 200: keySchema, ...errors } },
    },
    async (request) => changed(await access.revoke(request.params.id, deps.actorOf(request))),
  );

  const rateOf = (id: string) => access.rateFor(id, deps.defaultRate);
  const stateSchema = {
    type: 'object',
    properties: {
      key: { type: 'string' },
      backend: { type: 'string', enum: ['memory', 'redis'] },
      limit: { type: 'integer' },
      window_ms: { type: 'integer' },
      used: { type: 'number' },
      remaining: { type: 'integer' },
      reset_ms: { type: 'integer' },
    },
    required: ['key', 'backend', 'limit', 'window_ms', 'used', 'remaining', 'reset_ms'],
  } as const;
  const stateOf = async (id: string) => {
    const s = await deps.limiter.peek(id, await rateOf(id));
    return { key: s.key, backend: deps.limiter.backend, limit: s.limit, window_ms: s.windowMs, used: s.used, remaining: s.remaining, reset_ms: s.resetMs };
  };

  app.get(
    '/v1/keys/:id/ratelimit',
    {
      config: { scope: 'admin' },
      schema: { tags: ['access'], summary: "A key's rate-limit counters now (this process's, without REDIS_URL)", params: idParam, response: { 200: stateSchema, ...errors } },
    },
    async (request) => stateOf(request.params.id),
  );

  app.delete(
    '/v1/keys/:id/ratelimit',
    { config: { scope: 'admin' }, schema: { tags: ['access'], summary: "Clear a key's rate-limit counters", params: idParam, response: { 200: stateSchema, ...errors } } },
    async (request) => {
      await rateOf(request.params.id);
      await deps.limiter.reset(request.params.id);
      return stateOf(request.params.id);
    },
  );

  app.post(
    '/v1/keys/:id/rotate',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'New token for a key; the old one keeps working for the grace period (default 24h)',
        params: idParam,
        body: { type: 'object', additionalProperties: false, properties: { grace: { type: 'string', maxLength: 16, description: 'e.g. 24h; 0s ends the old token at once' } } },
        response: { 200: withToken, ...errors },
      },
    },
    async (request) => changed(await access.rotate(request.params.id, parseDuration(request.body?.grace ?? '24h', 'grace'), deps.actorOf(request))),
  );
}
