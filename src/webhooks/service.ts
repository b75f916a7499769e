import { randomBytes } from 'node:crypto';
import { AppError } from '../lib/errors.js';
import { checkDestination, destinationRefusal, FETCH_BAD_PORTS, systemResolver, type Resolver } from './destination.js';
import type { Clock } from '../lib/clock.js';
import { MAX_GRACE_MS } from '../lib/duration.js';
import { EVENT_TYPES, messageId } from './events.js';
import { TEST_EVENT_TYPE } from './event-types.js';
import { sendEvent } from './send.js';
import { newSecret, secretKey } from './signing.js';
import type { WebhookStore } from './store.js';

export interface WebhookServiceDeps {
  store: WebhookStore;
  clock: Clock;
  /** Receivers on loopback, link-local and private addresses are allowed (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  /** Name resolution for subscription URLs (tests may pass their own). */
  resolve?: Resolver;
  /** How long a test event waits for the receiver's answer (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
}

const subscriptionId = () => `wh_${randomBytes(9).toString('base64url')}`;

const noDelivery = (id: string) =>
  new AppError(
    'NOT_FOUND',
    id.startsWith('msg_')
      ? `${id} is an event id (the webhook-id header), not a delivery id: modelgate webhooks deliveries --event ${id} lists its deliveries, one per receiver`
      : `no webhook delivery ${id}; modelgate webhooks deliveries lists them (an event's deliveries: --event msg_…; delivered ones are kept 7 days)`,
    { id },
  );

const notFound = (id: string) => new AppError('NOT_FOUND', `no webhook subscription ${id}; modelgate webhooks list shows them`, { id });

/** A given signing secret, checked; or a new random one. */
function checkedSecret(given: string | undefined): string {
  const secret = given ?? newSecret();
  try {
    if (secretKey(secret).length < 24) throw new Error('too short');
  } catch {
    throw new AppError('VALIDATION_FAILED', 'secret: expected whsec_ followed by base64 of at least 24 random bytes (leave it out to have one made)', { field: 'secret' });
  }
  return secret;
}

/** How long listing subscriptions waits for a receiver's name to resolve before leaving its refusal unsaid. */
const REFUSAL_CHECK_MS = 2000;

/** Webhook subscriptions: validated on the way in, secrets shown once. */
export function createWebhookService(deps: WebhookServiceDeps) {
  const { store, clock } = deps;
  const resolve = deps.resolve ?? systemResolver;

  async function add(input: { url: string; events?: string[]; secret?: string; actor: string }) {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw new AppError('VALIDATION_FAILED', `url: ${JSON.stringify(input.url)} is not a URL; give one such as https://hooks.example.com/modelgate`, { field: 'url' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new AppError('VALIDATION_FAILED', `url: only http and https receivers are supported, not ${url.protocol.replace(':', '')}`, { field: 'url' });
    await checkDestination(url, { allowPrivate: deps.allowPrivate, resolve });
    if (url.port && FETCH_BAD_PORTS.has(Number(url.port)))
      throw new AppError(
        'VALIDATION_FAILED',
        `url: port ${url.port} is one Node's HTTP client (fetch) never connects to (the Fetch standard's blocked ports: IRC, SIP, X11, mail and others), so no delivery could reach it; run the receiver on another port`,
        { field: 'url' },
      );
    const events = input.events?.length ? [...new Set(input.events)] : ['*'];
    const unknown = events.filter((e) => e !== '*' && !(EVENT_TYPES as readonly string[]).includes(e));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `events: unknown ${unknown.join(', ')}; known: ${EVENT_TYPES.join(', ')} (or * for all)`, { field: 'events' });
    if (events.includes('*') && events.length > 1) throw new AppError('VALIDATION_FAILED', 'events: * already means every event; list events or give *', { field: 'events' });
    const secret = checkedSecret(input.secret);
    // A second subscription to one receiver delivers each event twice, signed with a secret the
    // receiver does not know (its deliveries fail and dead-letter). The same request again (a
    // deploy job run twice) is the subscription there is; anything else about it is a conflict.
    const same = (await store.list()).find((x) => x.url === url.toString());
    if (same) {
      const sameEvents = [...same.events].sort().join(',') === [...events].sort().join(',');
      const sameSecret = input.secret === undefined || input.secret === (await store.secretOf(same.id));
      if (same.enabled && sameEvents && sameSecret) return { ...same, already: true as const };
      const differs = !same.enabled ? `it is disabled (${same.disabled_reason ?? 'by hand'})` : !sameEvents ? `for events ${same.events.join(', ')}` : 'with another secret';
      throw new AppError(
        'CONFLICT',
        `url: subscription ${same.id} already delivers to ${same.url}, ${differs}; a second one would send each event twice, signed with another secret. ${same.enabled ? '' : `To send to it again: modelgate webhooks enable ${same.id}. `}To change its events, remove it (modelgate webhooks remove ${same.id}) and add it again; for a new secret, rotate it (modelgate webhooks rotate-secret ${same.id})`,
        { field: 'url', id: same.id },
      );
    }
    const sub = await store.add({ id: subscriptionId(), url: url.toString(), secret, events, actor: input.actor, at: clock.now().toISOString() });
    return { ...sub, secret };
  }

  /**
   * A new signing secret for a subscription, shown once. For graceMs the replaced secret signs
   * each delivery too (a second signature in webhook-signature), so the receiver can switch to the
   * new one at any moment within it; 0 ends the old secret at once.
   */
  async function rotateSecret(input: { id: string; secret?: string; graceMs: number; actor: string }) {
    if (!Number.isFinite(input.graceMs) || input.graceMs < 0 || input.graceMs > MAX_GRACE_MS) throw new AppError('VALIDATION_FAILED', 'grace: expected a duration from 0s to 30d', { field: 'grace' });
    const secret = checkedSecret(input.secret);
    const current = await store.secretOf(input.id);
    if (current === undefined) throw notFound(input.id);
    if (current === secret) throw new AppError('VALIDATION_FAILED', "secret: that is the subscription's current secret; give a new one, or leave it out to have one made", { field: 'secret' });
    const now = clock.now();
    const sub = await store.rotateSecret({
      id: input.id,
      secret,
      previousUntil: input.graceMs > 0 ? new Date(now.getTime() + input.graceMs).toISOString() : null,
      actor: input.actor,
      at: now.toISOString(),
    });
    if (!sub) throw notFound(input.id);
    return { ...sub, secret };
  }

  /**
   * A subscription a 410 Gone disabled, sending again: events from now on are delivered to it
   * (those while it was disabled were not queued for it). Its secret stays.
   */
  async function enable(id: string) {
    const before = (await store.list()).find((x) => x.id === id);
    if (!before) throw notFound(id);
    if (before.enabled) return { ...before, already: true };
    await store.enable(id);
    return { ...before, enabled: true, disabled_reason: null, was_disabled_because: before.disabled_reason };
  }

  async function remove(id: string) {
    if (!(await store.remove(id, clock.now().toISOString()))) throw notFound(id);
    return { id, removed: true };
  }

  async function retryDlq(filter: { url?: string; id?: string }) {
    return { requeued: await store.retryDlq({ url: filter.url, eventId: filter.id }, clock.now().toISOString()) };
  }

  /**
   * A `webhook.test` event sent now to one subscription, signed as its deliveries are, and how the
   * receiver answered: to check a receiver (its URL, its secret, its firewall) without waiting for
   * a real event. Not queued, not retried, not counted as a delivery.
   */
  async function test(id: string) {
    const now = clock.now();
    const target = await store.signingTarget(id, now.toISOString());
    if (!target) throw notFound(id);
    const eventId = messageId();
    const body = JSON.stringify({ type: TEST_EVENT_TYPE, timestamp: now.toISOString(), data: { subscription: target.id, message: 'a test event from modelgate webhooks test; nothing happened' } });
    const sent = await sendEvent(target, eventId, body, { timeoutMs: deps.timeoutMs, allowPrivate: deps.allowPrivate, resolve, now: now.getTime() });
    return {
      subscription: target.id,
      url: target.url,
      enabled: target.enabled,
      event_id: eventId,
      delivered: sent.error === null,
      status_code: sent.statusCode,
      error: sent.error,
      response: sent.response,
      duration_ms: Math.round(sent.durationMs * 10) / 10,
      signed_with: target.previousSecret ? ['current', 'previous'] : ['current'],
    };
  }

  async function delivery(id: string) {
    const found = await store.delivery(id);
    if (!found) throw noDelivery(id);
    return found;
  }

  /**
   * One delivery sent again, whatever became of it: a receiver that lost what it acknowledged
   * (restored from a backup, a bug after its 2xx), or a dead letter on its own. Same event, same
   * webhook-id and body, signed anew; attempts number on and the retry schedule starts over.
   */
  async function redeliver(id: string) {
    const r = await store.requeue(id, clock.now().toISOString());
    const look = `modelgate webhooks delivery ${id} shows its attempts`;
    switch (r.outcome) {
      case 'missing':
        throw noDelivery(id);
      case 'removed':
        throw new AppError(
          'CONFLICT',
          `delivery ${id} was to subscription ${r.subscription}, which was removed: there is no receiver to send it to. Add the receiver again (modelgate webhooks add --url …); a new subscription hears of events from its creation on`,
          { id, subscription: r.subscription },
        );
      case 'disabled':
        throw new AppError(
          'CONFLICT',
          `subscription ${r.subscription} is disabled (${r.reason ?? 'by hand'}): nothing is sent to it. Enable it first (modelgate webhooks enable ${r.subscription}; modelgate webhooks test ${r.subscription} checks the receiver takes events), then redeliver`,
          { id, subscription: r.subscription },
        );
      case 'pending':
        throw new AppError('CONFLICT', `delivery ${id} is queued already: attempt ${r.attempts + 1} at ${r.next_attempt_at}; ${look}`, { id, next_attempt_at: r.next_attempt_at });
      case 'changed':
        throw new AppError('CONFLICT', `delivery ${id} changed while it was being queued again (the delivery worker or another operator got to it first); ${look}, then try again`, { id });
    }
    return { ...(await delivery(id)), was: r.was };
  }

  /**
   * Every subscription, as `list`; an enabled one this server would not deliver to now (an
   * internal address without WEBHOOK_ALLOW_PRIVATE=on, a name that does not resolve) says why in
   * `refused`, where it would otherwise read as enabled and fine while its deliveries fail. A
   * name that takes longer than REFUSAL_CHECK_MS to resolve is left unsaid.
   */
  async function listWithRefusals() {
    return Promise.all(
      (await store.list()).map(async (sub) => {
        const refused = sub.enabled ? await destinationRefusal(sub.url, { allowPrivate: deps.allowPrivate, resolve }, REFUSAL_CHECK_MS) : undefined;
        return refused ? { ...sub, refused } : sub;
      }),
    );
  }

  return { add, rotateSecret, enable, remove, list: store.list, listWithRefusals, retryDlq, deliveries: store.deliveries, delivery, redeliver, test, dlqSize: store.dlqSize };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
