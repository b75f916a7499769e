import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import type { FeedbackItem, FeedbackService } from './feedback.js';

export interface FeedbackRouteDeps {
  feedback: FeedbackService;
  flushAudit?: () => Promise<void>;
  maxItems: number;
}

const item = {
  type: 'object',
  properties: {
    prediction_id: { type: 'string', maxLength: 128 },
    event_id: { type: 'string', minLength: 1, maxLength: 256 },
    model: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'the model whose outcome this is: needed with an event_id several models scored; with a prediction_id, checked against it',
    },
    label: {
      description:
        "the real outcome: binary 0/1 or false/true (did the predicted event happen), or one of the model's own class labels (the positive class is 1); multiclass the class; regression the value",
    },
    value: { type: ['number', 'null'], description: 'realised profit (positive) or cost (negative)' },
  },
} as const;

export async function feedbackRoutes(fastify: FastifyInstance, deps: FeedbackRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.post(
    '/v1/feedback',
    {
      config: { scope: 'feedback' },
      schema: {
        tags: ['audit'],
        summary: 'Report real outcomes: one item, or {items: [...]} with up to 1,000 (each stored or refused on its own)',
        body: { type: 'object', properties: { ...item.properties, items: { type: 'array', items: item } } },
        response: {
          200: {
            type: 'object',
            properties: {
              stored: { type: 'integer' },
              failed: { type: 'integer' },
              replaced: { type: 'integer', description: 'stored items whose prediction had an outcome already (reporting again replaces it)' },
              changed: { type: 'integer', description: 'of those, items whose outcome differs from the one replaced' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    index: { type: 'integer' },
                    status: { type: 'string', enum: ['stored', 'error'] },
                    prediction_id: { type: 'string' },
                    replaced: { type: 'boolean' },
                    changed: { type: 'boolean' },
                    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
                  },
                },
              },
            },
          },
          ...errorReplies(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (request) => {
      const body = request.body;
      const batch = 'items' in body && Array.isArray(body.items);
      const items = batch ? (body as { items: FeedbackItem[] }).items : [body as FeedbackItem];
      if (items.length === 0 || items.length > deps.maxItems) throw new AppError('VALIDATION_FAILED', `body.items: send 1 to ${deps.maxItems} items, got ${items.length}`, { field: 'body.items' });
      const out = await deps.feedback.submit(items, request.principal?.id ?? null, deps.flushAudit);
      // One item: its error is the reply's error, in the usual model.
      const first = out.results[0];
      if (!batch && first.status === 'error') throw new AppError(first.error.code, first.error.message.replace(/^items\[0\]/, 'body'));
      return out;
    },
  );
}
