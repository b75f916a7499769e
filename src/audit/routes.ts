import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { parseDuration, parseWindow } from '../lib/duration.js';
import { parseInstant } from '../lib/instant.js';
import { errorReplies } from '../lib/schemas.js';
import type { Clock } from '../lib/clock.js';
import { Readable } from 'node:stream';
import { AUDIT_ARMS, type AuditStore, type PredictionQuery } from './store.js';
import { predictionsCsv } from './export.js';

export interface AuditRouteDeps {
  store: AuditStore;
  clock: Clock;
}

const errors = errorReplies(400, 401, 403, 404, 429, 503);

/** ISO time from a query parameter or flag (a date, or a date and time with its zone); says what is expected when it is not one. */
export function parseTime(v: string | undefined, field: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  return parseInstant(v, field).toISOString();
}

/**
 * A flag's time: as parseTime, or a duration back from `now` (`24h`: a day ago), read once, so
 * an export's bounds stay where they were when it started.
 */
export function parseFlagTime(v: string | undefined, flag: string, now: Date): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\s*[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d)\s*$/.test(v)) return new Date(now.getTime() - parseDuration(v, flag)).toISOString();
  return parseInstant(v, flag, ', or how long ago such as 24h or 7d').toISOString();
}

/** `names`: what the caller calls the two bounds (the query's fields, or the CLI's flags). */
export function checkRange(from: string | undefined, to: string | undefined, names: [string, string] = ['query.from', 'query.to']): void {
  if (from && to && from >= to) throw new AppError('VALIDATION_FAILED', `${names[0]} (${from}) must be before ${names[1]} (${to})`, { field: names[0] });
}

/** A page's keyset position; a newest-first listing's carries its order, so it cannot be passed to the other. */
export const encodeCursor = (at: string, id: string, newestFirst = false) => Buffer.from(JSON.stringify(newestFirst ? [at, id, 'newest'] : [at, id])).toString('base64url');

export function decodeCursor(c: string | undefined, newestFirst = false): { at: string; id: string } | undefined {
  if (!c) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
  } catch {
    // refused below
  }
  if (Array.isArray(v) && (v.length === 2 || (v.length === 3 && v[2] === 'newest')) && typeof v[0] === 'string' && typeof v[1] === 'string' && !Number.isNaN(Date.parse(v[0]))) {
    if ((v.length === 3) !== newestFirst)
      throw new AppError(
        'VALIDATION_FAILED',
        `query.cursor: a cursor of the ${newestFirst ? 'oldest' : 'newest'}-first listing; pass it with order=${newestFirst ? 'oldest' : 'newest'}, or start this listing without a cursor`,
        {
          field: 'query.cursor',
        },
      );
    return { at: v[0], id: v[1] };
  }
  throw new AppError('VALIDATION_FAILED', 'query.cursor: not a cursor this server issued; pass next_cursor from the previous page unchanged', { field: 'query.cursor' });
}

const prediction = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    at: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'integer' },
    arm: { type: 'string' },
    event_id: { type: ['string', 'null'] },
    features: { type: ['object', 'null'], additionalProperties: true },
    features_sha256: { type: ['string', 'null'] },
    score: { type: 'number', description: 'binary: positive-class probability; multiclass: probability of label; regression: the value' },
    label: { type: ['string', 'null'], description: 'multiclass: the predicted class' },
    decision: { type: 'string' },
    latency_ms: { type: 'number' },
    cached: { type: 'boolean' },
    key_id: { type: ['string', 'null'] },
    outcome: { type: ['number', 'string', 'null'], description: 'the real outcome fed back for it (binary 0 or 1, multiclass the class, regression the value); null while none is' },
    outcome_value: { type: ['number', 'null'], description: 'the realised profit or cost fed back with the outcome' },
    outcome_at: { type: ['string', 'null'] },
  },
} as const;

/** The audit log's filters, shared by the JSON pages and the CSV export. */
const filterProperties = {
  model: { type: 'string', maxLength: 64 },
  from: { type: 'string', description: 'a date (midnight UTC) or a date and time with its zone (Z or +02:00), inclusive' },
  to: { type: 'string', description: 'a date (midnight UTC) or a date and time with its zone (Z or +02:00), exclusive' },
  decision: { type: 'string', maxLength: 64 },
  version: { type: 'string', pattern: '^[1-9][0-9]{0,8}$', description: 'only this model version' },
  arm: { type: 'string', enum: AUDIT_ARMS, description: 'only predictions of this arm (shadow: what a shadow version decided, never returned)' },
  event_id: { type: 'string', maxLength: 200, description: "only the prediction(s) made for this event id (the caller's id, which feedback joins on)" },
} as const;

/** The store's filter from the query string, times checked. */
function auditFilter(q: { model?: string; from?: string; to?: string; decision?: string; version?: string; arm?: string; event_id?: string }): Omit<PredictionQuery, 'limit' | 'after'> {
  const from = parseTime(q.from, 'query.from');
  const to = parseTime(q.to, 'query.to');
  checkRange(from, to);
  return { model: q.model, decision: q.decision, version: q.version === undefined ? undefined : Number(q.version), arm: q.arm, eventId: q.event_id, from, to };
}

export async function auditRoutes(fastify: FastifyInstance, deps: AuditRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { store } = deps;

  app.get(
    '/v1/predictions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Audited predictions, oldest first (or newest first), a page at a time',
        querystring: {
          type: 'object',
          properties: {
            ...filterProperties,
            order: { type: 'string', enum: ['oldest', 'newest'], description: 'oldest first (the default) or newest first' },
            limit: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'rows per page, 1 to 1000 (default 100)' },
            cursor: { type: 'string', maxLength: 512, description: 'next_cursor of the previous page' },
          },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { predictions: { type: 'array', items: prediction }, next_cursor: { type: ['string', 'null'] } }, required: ['predictions', 'next_cursor'] },
          ...errors,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (!(limit >= 1 && limit <= 1000)) throw new AppError('VALIDATION_FAILED', `query.limit: expected 1 to 1000, got ${q.limit}`, { field: 'query.limit' });
      const newestFirst = q.order === 'newest';
      const rows = await store.query({ ...auditFilter(q), limit, newestFirst, after: decodeCursor(q.cursor, newestFirst) });
      const last = rows[rows.length - 1];
      return { predictions: rows, next_cursor: rows.length === limit && last ? encodeCursor(last.at, last.id, newestFirst) : null };
    },
  );

  app.get(
    '/v1/predictions.csv',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Every audited prediction matching the filters as one CSV download, oldest first (streamed a page at a time)',
        querystring: { type: 'object', properties: filterProperties, additionalProperties: false },
        produces: ['text/csv'],
      },
    },
    async (request, reply) => {
      const filter = auditFilter(request.query);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${filter.model ?? 'all'}-predictions.csv"`)
        .send(Readable.from(predictionsCsv(store, filter)));
    },
  );

  app.get(
    '/v1/models/:name/decisions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['audit'],
        summary: "Distribution of a model's decisions over a recent window",
        params: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] },
        querystring: { type: 'object', properties: { window: { type: 'string', default: '24h', description: 'e.g. 1h, 24h, 7d' } }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              window: { type: 'string' },
              from: { type: 'string' },
              total: { type: 'integer' },
              decisions: { type: 'array', items: { type: 'object', properties: { decision: { type: 'string' }, count: { type: 'integer' }, rate: { type: 'number' } } } },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const window = request.query.window ?? '24h';
      const now = deps.clock.now().getTime();
      const from = new Date(now - parseWindow(window, 'query.window')).toISOString();
      // Up to and including this millisecond.
      const counts = await store.decisions(request.params.name, from, new Date(now + 1).toISOString());
      const total = counts.reduce((a, c) => a + c.count, 0);
      return { model: request.params.name, window, from, total, decisions: counts.map((c) => ({ ...c, rate: total ? c.count / total : 0 })) };
    },
  );
}
