import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { parseWindow } from '../lib/duration.js';
import { errorReplies } from '../lib/schemas.js';
import { decodeCursor, encodeCursor } from '../audit/index.js';
import type { MonitoringService } from './service.js';

export interface MonitoringRouteDeps {
  monitoring: MonitoringService;
}

const errors = errorReplies(400, 401, 403, 404, 409, 429, 503);
const report = { type: 'object', additionalProperties: true, description: 'A monitoring report (docs/monitoring.md describes every field)' } as const;
const params = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;

export async function monitoringRoutes(fastify: FastifyInstance, deps: MonitoringRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { monitoring } = deps;

  app.get(
    '/v1/monitoring/:name/latest',
    { config: { scope: 'read' }, schema: { tags: ['monitoring'], summary: "A model's latest monitoring report", params, response: { 200: report, ...errors } } },
    async (request) => {
      const r = await monitoring.latest(request.params.name);
      if (!r)
        throw new AppError('NOT_FOUND', `no monitoring report for ${request.params.name} yet; run modelgate monitor --model ${request.params.name}, or wait for MONITOR_INTERVAL`, {
          model: request.params.name,
        });
      return r;
    },
  );

  app.get(
    '/v1/monitoring/:name/history',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['monitoring'],
        summary: "A model's monitoring reports, newest first (summaries; GET …/reports/:id for one in full)",
        params,
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: 'reports per page, 1 to 200 (default 50)' },
            cursor: { type: 'string', maxLength: 512, description: 'next_cursor of the previous page' },
            metrics: { type: 'string', enum: ['true', 'false'], description: 'true: each summary also carries the headline numbers of its report (for charts over time)' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              reports: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    model: { type: 'string' },
                    version: { type: ['integer', 'null'] },
                    created_at: { type: 'string' },
                    window: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' } } },
                    predictions: { type: 'integer' },
                    alerts_firing: { type: 'array', items: { type: 'string' } },
                    metrics: {
                      type: 'object',
                      description: 'with metrics=true: worst feature PSI, share of features drifted, prediction PSI, action rate and the outcome metrics (null when the report had none)',
                      additionalProperties: { type: ['number', 'null'] },
                    },
                  },
                },
              },
              next_cursor: { type: ['string', 'null'] },
            },
            required: ['reports', 'next_cursor'],
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
      if (!(limit >= 1 && limit <= 200)) throw new AppError('VALIDATION_FAILED', `query.limit: expected 1 to 200, got ${request.query.limit}`, { field: 'query.limit' });
      const rows = await monitoring.history(request.params.name, limit, decodeCursor(request.query.cursor), request.query.metrics === 'true');
      const last = rows[rows.length - 1];
      return { reports: rows, next_cursor: rows.length === limit && last ? encodeCursor(last.created_at, last.id) : null };
    },
  );

  app.get(
    '/v1/monitoring/:name/reports/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['monitoring'],
        summary: 'One stored monitoring report',
        params: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name', 'id'] },
        response: { 200: report, ...errors },
      },
    },
    async (request) => monitoring.report(request.params.name, request.params.id),
  );

  app.post(
    '/v1/monitoring/:name/run',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['monitoring'],
        summary: 'Run the monitor for a model now and store the report',
        params,
        body: { type: 'object', properties: { window: { type: 'string', description: 'e.g. 1h, 24h (default), 7d' } }, additionalProperties: false },
        response: { 200: report, ...errors },
      },
    },
    async (request) => {
      const windowMs = parseWindow(request.body?.window ?? '24h', 'body.window');
      return (await monitoring.run(request.params.name, windowMs)).report;
    },
  );
}
