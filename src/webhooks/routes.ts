import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseDuration } from '../lib/duration.js';
import { errorReplies } from '../lib/schemas.js';
import type { SchemaTypes } from '../lib/route-types.js';
import { EVENT_TYPES } from './events.js';
import type { WebhookService } from './service.js';

export interface WebhookRouteDeps {
  webhooks: WebhookService;
  actorOf: (request: FastifyRequest) => string;
}

const errors = errorReplies(400, 401, 403, 404, 429, 503);
const subscription = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    enabled: { type: 'boolean' },
    disabled_reason: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    created_by: { type: 'string' },
    secret_rotated_at: { type: ['string', 'null'] },
    secret_rotated_by: { type: ['string', 'null'] },
    previous_secret_valid_until: { type: ['string', 'null'], description: 'deliveries are signed with the replaced secret too until then' },
    refused: {
      type: 'string',
      description: 'enabled, but this server would not deliver to it now, and why (an internal address without WEBHOOK_ALLOW_PRIVATE=on, a name that does not resolve); absent when it would',
    },
  },
} as const;

const delivery = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    event_id: { type: 'string', description: 'the webhook-id header: the same for every receiver of the event' },
    type: { type: 'string' },
    event_at: { type: 'string', description: 'when the event happened' },
    subscription_id: { type: 'string' },
    url: { type: ['string', 'null'], description: "the receiver's URL; null once its subscription is gone" },
    status: { type: 'string', enum: ['pending', 'delivered', 'dead', 'cancelled'] },
    attempts: { type: 'integer', description: 'attempts so far, numbered on across retry-dlq and redeliver' },
    requeued: { type: 'integer', description: 'how often it was queued again by hand (retry-dlq, redeliver)' },
    next_attempt_at: { type: ['string', 'null'], description: 'when a pending delivery is sent next' },
    last_status: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    updated_at: { type: 'string' },
  },
} as const;

const attempt = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    at: { type: 'string' },
    status_code: { type: ['integer', 'null'], description: 'null when no answer came (a timeout, a refused connection)' },
    error: { type: ['string', 'null'] },
    duration_ms: { type: 'number' },
    response: { type: ['string', 'null'], description: 'the start of what the receiver answered to a failed attempt (at most 1 KiB; … marks a cut)' },
  },
} as const;

export async function webhookRoutes(fastify: FastifyInstance, deps: WebhookRouteDeps): Promise<void> {
  // Request types come from the schemas below, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { webhooks } = deps;
  const tags = ['webhooks'];

  app.get(
    '/v1/webhooks',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Webhook subscriptions (secrets are never shown again)',
        response: { 200: { type: 'object', properties: { subscriptions: { type: 'array', items: subscription }, dead_letters: { type: 'integer' } } }, ...errors },
      },
    },
    async () => ({
      subscriptions: await webhooks.listWithRefusals(),
      dead_letters: await webhooks.dlqSize(),
    }),
  );

  app.post(
    '/v1/webhooks',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Subscribe a receiver; the reply holds its signing secret, shown this once (the same request again answers already: true)',
        body: {
          type: 'object',
          properties: {
            url: { type: 'string', maxLength: 2048 },
            events: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES, '*'] }, maxItems: 20, description: 'default: every event' },
            secret: { type: 'string', maxLength: 200, description: 'whsec_…; default: a new random one' },
          },
          required: ['url'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              ...subscription.properties,
              secret: { type: 'string' },
              already: { type: 'boolean', description: 'subscribed already with these events: no secret in the reply (it was shown when it was added)' },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => webhooks.add({ ...request.body, actor: deps.actorOf(request) }),
  );

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'A new signing secret, shown this once; the old one signs deliveries too for the grace period (default 24h), so the receiver can switch at any moment within it',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        body: {
          type: 'object',
          properties: {
            secret: { type: 'string', maxLength: 200, description: 'whsec_…; default: a new random one' },
            grace: { type: 'string', maxLength: 16, description: 'e.g. 24h; 0s stops signing with the old secret at once' },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { ...subscription.properties, secret: { type: 'string' } } }, ...errors },
      },
    },
    async (request) => webhooks.rotateSecret({ id: request.params.id, secret: request.body?.secret, graceMs: parseDuration(request.body?.grace ?? '24h', 'grace'), actor: deps.actorOf(request) }),
  );

  app.post(
    '/v1/webhooks/:id/test',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary:
          'Send a webhook.test event to this subscription now, signed as its deliveries are, and answer with how the receiver took it (not queued, not retried); 200 whether or not it was delivered',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              subscription: { type: 'string' },
              url: { type: 'string' },
              enabled: { type: 'boolean', description: 'false: real events are not sent to it (a 410 Gone disabled it), though this test was' },
              event_id: { type: 'string', description: 'the webhook-id header it carried' },
              delivered: { type: 'boolean', description: 'the receiver answered 2xx' },
              status_code: { type: ['integer', 'null'] },
              error: { type: ['string', 'null'] },
              response: { type: ['string', 'null'], description: 'the start of a non-2xx answer (at most 1 KiB)' },
              duration_ms: { type: 'number' },
              signed_with: { type: 'array', items: { type: 'string', enum: ['current', 'previous'] }, description: 'previous too while a rotation grace lasts' },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => webhooks.test(request.params.id),
  );

  app.post(
    '/v1/webhooks/:id/enable',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Send to a subscription again after a 410 Gone disabled it: events from now on (not those while it was disabled); its secret stays. Enabled already: already: true',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              ...subscription.properties,
              already: { type: 'boolean', description: 'it was enabled: nothing changed' },
              was_disabled_because: { type: ['string', 'null'] },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => webhooks.enable(request.params.id),
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Remove a subscription (its pending deliveries are cancelled)',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        response: { 200: { type: 'object', properties: { id: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors },
      },
    },
    async (request) => webhooks.remove(request.params.id),
  );

  app.post(
    '/v1/webhooks/retry-dlq',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Queue dead-lettered deliveries again (all, one receiver URL, or one event or delivery id)',
        body: { type: 'object', properties: { url: { type: 'string', maxLength: 2048 }, id: { type: 'string', maxLength: 64 } }, additionalProperties: false },
        response: { 200: { type: 'object', properties: { requeued: { type: 'integer' } } }, ...errors },
      },
    },
    async (request) => webhooks.retryDlq(request.body ?? {}),
  );

  app.get(
    '/v1/webhooks/deliveries',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Recent deliveries, newest first; of one status, subscription or event',
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['pending', 'delivered', 'dead', 'cancelled'] },
            subscription: { type: 'string', maxLength: 64, description: 'a subscription id (wh_…)' },
            event: { type: 'string', maxLength: 64, description: 'an event id (the webhook-id header, msg_…)' },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { deliveries: { type: 'array', items: delivery } } }, ...errors },
      },
    },
    async (request) => {
      const { status, subscription, event, limit } = request.query;
      return { deliveries: await webhooks.deliveries({ status, subscription, event, limit: Math.min(1000, Number(limit ?? 100) || 100) }) };
    },
  );

  app.get(
    '/v1/webhooks/deliveries/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: "One delivery and every attempt at it, oldest first, with the start of the receiver's answer to each failed one",
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        response: { 200: { type: 'object', properties: { ...delivery.properties, history: { type: 'array', items: attempt } } }, ...errors },
      },
    },
    async (request) => webhooks.delivery(request.params.id),
  );

  app.post(
    '/v1/webhooks/deliveries/:id/redeliver',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Send one delivery again, whatever became of it (delivered, dead, or cancelled by a 410 Gone since enabled again)',
        description:
          'The same event, webhook-id and body, signed anew, queued for the delivery worker: for a receiver that lost what it acknowledged. Its attempts number on and the retry schedule starts over. 409 when it is queued already, or its subscription is disabled or removed. A receiver that deduplicates by webhook-id takes it as seen already.',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: { ...delivery.properties, was: { type: 'string', description: 'its status before: delivered, dead or cancelled' }, history: { type: 'array', items: attempt } },
          },
          ...errorReplies(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request) => webhooks.redeliver(request.params.id),
  );
}
