import { randomUUID } from 'node:crypto';
import type { ExpressionBuilder } from 'kysely';
import type { Db } from '../db/index.js';
import type { Database } from '../db/schema.js';
import { fromJson, toIso, toIsoOrNull } from '../db/index.js';
import type { AttemptView, DeliveryView } from './delivery-view.js';

export interface Subscription {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: string;
  created_by: string;
  /** The last change of its signing secret, and until when deliveries are signed with the one before too. */
  secret_rotated_at: string | null;
  secret_rotated_by: string | null;
  previous_secret_valid_until: string | null;
}

export interface DueDelivery {
  id: string;
  event_id: string;
  /** Attempts made so far, across every time it was queued again by hand (retry-dlq, redeliver). */
  attempts: number;
  /** The attempt count when it was last queued again: the retry schedule starts over there. */
  scheduleFrom: number;
  /** previousSecret: while a rotation's grace lasts, the replaced secret, which signs each delivery too. */
  subscription: { id: string; url: string; secret: string; previousSecret?: string };
  body: string;
}

/** What asking for a delivery to be sent again came to. */
export type RequeueOutcome =
  | { outcome: 'queued'; was: string }
  | { outcome: 'missing' }
  | { outcome: 'removed'; subscription: string }
  | { outcome: 'disabled'; subscription: string; reason: string | null }
  | { outcome: 'pending'; next_attempt_at: string; attempts: number }
  | { outcome: 'changed' };

type SubscriptionRow = {
  id: string;
  url: string;
  events: string;
  enabled: number;
  disabled_reason: string | null;
  created_at: Date | string;
  created_by: string;
  secret_rotated_at: Date | string | null;
  secret_rotated_by: string | null;
  previous_secret_until: Date | string | null;
};

const toSubscription = (r: SubscriptionRow): Subscription => ({
  id: r.id,
  url: r.url,
  events: r.events.split(','),
  enabled: r.enabled === 1,
  disabled_reason: r.disabled_reason,
  created_at: toIso(r.created_at),
  created_by: r.created_by,
  secret_rotated_at: toIsoOrNull(r.secret_rotated_at),
  secret_rotated_by: r.secret_rotated_by,
  previous_secret_valid_until: toIsoOrNull(r.previous_secret_until),
});

type DeliveryRow = Omit<DeliveryView, 'event_at' | 'next_attempt_at' | 'updated_at' | 'url'> & {
  created_at: Date | string;
  next_attempt_at: Date | string;
  updated_at: Date | string;
  url: string | null;
};

const toDeliveryView = ({ created_at, ...r }: DeliveryRow): DeliveryView => ({
  ...r,
  event_at: toIso(created_at),
  next_attempt_at: r.status === 'pending' ? toIso(r.next_attempt_at) : null,
  updated_at: toIso(r.updated_at),
});

/** The replaced signing secret while its rotation's grace lasts at `now` (it signs each delivery too); {} otherwise. */
const previousWhileGrace = (r: { previous_secret: string | null; previous_secret_until: Date | string | null }, now: string): { previousSecret?: string } =>
  r.previous_secret && r.previous_secret_until && toIso(r.previous_secret_until) > now ? { previousSecret: r.previous_secret } : {};

const SUBSCRIPTION_COLUMNS = ['id', 'url', 'events', 'enabled', 'disabled_reason', 'created_at', 'created_by', 'secret_rotated_at', 'secret_rotated_by', 'previous_secret_until'] as const;

/** A delivery queued again by hand (retry-dlq, redeliver): attempts number on, the retry schedule starts over from the next one. */
const queuedAgain = (now: string) => (eb: ExpressionBuilder<Database, 'webhook_deliveries'>) => ({
  status: 'pending',
  schedule_from: eb.ref('attempts'),
  requeued: eb('requeued', '+', 1),
  next_attempt_at: now,
  updated_at: now,
});

export function createWebhookStore(db: Db) {
  const k = db.kysely;
  const deliveryRows = () =>
    k
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_outbox as o', 'o.id', 'd.event_id')
      .leftJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
      .select([
        'd.id',
        'd.event_id',
        'o.type',
        'o.created_at',
        'd.subscription_id',
        's.url',
        'd.status',
        'd.attempts',
        'd.requeued',
        'd.next_attempt_at',
        'd.last_status',
        'd.last_error',
        'd.updated_at',
      ]);
  return {
    async add(s: { id: string; url: string; secret: string; events: string[]; actor: string; at: string }): Promise<Subscription> {
      await k
        .insertInto('webhook_subscriptions')
        .values({ id: s.id, url: s.url, secret: s.secret, events: s.events.join(','), enabled: 1, disabled_reason: null, created_at: s.at, created_by: s.actor })
        .execute();
      return {
        id: s.id,
        url: s.url,
        events: s.events,
        enabled: true,
        disabled_reason: null,
        created_at: s.at,
        created_by: s.actor,
        secret_rotated_at: null,
        secret_rotated_by: null,
        previous_secret_valid_until: null,
      };
    },

    async list(): Promise<Subscription[]> {
      return (await k.selectFrom('webhook_subscriptions').select(SUBSCRIPTION_COLUMNS).orderBy('created_at').execute()).map(toSubscription);
    },

    /**
     * A new signing secret. With previousUntil, the one it replaces keeps signing deliveries
     * until then; a rotation during another's grace ends that grace (only the secret replaced now
     * is kept). One UPDATE: its right-hand sides read the row as it was, so two rotations at once
     * cannot both keep the same old secret.
     */
    async rotateSecret(r: { id: string; secret: string; previousUntil: string | null; actor: string; at: string }): Promise<Subscription | undefined> {
      const done = await k
        .updateTable('webhook_subscriptions')
        .set((eb) => ({
          previous_secret: r.previousUntil ? eb.ref('secret') : null,
          previous_secret_until: r.previousUntil,
          secret: r.secret,
          secret_rotated_at: r.at,
          secret_rotated_by: r.actor,
        }))
        .where('id', '=', r.id)
        .executeTakeFirst();
      if (!done.numUpdatedRows) return undefined;
      const row = await k.selectFrom('webhook_subscriptions').select(SUBSCRIPTION_COLUMNS).where('id', '=', r.id).executeTakeFirst();
      return row && toSubscription(row);
    },

    /** The subscription's current secret (to refuse a "new" one that is the same). */
    async secretOf(id: string): Promise<string | undefined> {
      return (await k.selectFrom('webhook_subscriptions').select('secret').where('id', '=', id).executeTakeFirst())?.secret;
    },

    /** Removes a subscription and cancels what it still had to deliver. */
    async remove(id: string, at: string): Promise<boolean> {
      return k.transaction().execute(async (tx) => {
        const r = await tx.deleteFrom('webhook_subscriptions').where('id', '=', id).executeTakeFirst();
        if (!r.numDeletedRows) return false;
        // Its dead letters too: with the subscription gone they could never be retried, and would hold the dead-letter count (and its alert) up for good.
        await tx.updateTable('webhook_deliveries').set({ status: 'cancelled', updated_at: at }).where('subscription_id', '=', id).where('status', 'in', ['pending', 'dead']).execute();
        return true;
      });
    },

    /** What a test event is sent and signed with: the URL, the secret, and the replaced one while its grace lasts. */
    async signingTarget(id: string, now: string): Promise<{ id: string; url: string; enabled: boolean; secret: string; previousSecret?: string } | undefined> {
      const r = await k.selectFrom('webhook_subscriptions').select(['id', 'url', 'enabled', 'secret', 'previous_secret', 'previous_secret_until']).where('id', '=', id).executeTakeFirst();
      if (!r) return undefined;
      return { id: r.id, url: r.url, enabled: r.enabled === 1, secret: r.secret, ...previousWhileGrace(r, now) };
    },

    /** Send to it again (after a 410 Gone disabled it); false when there is no such subscription. */
    async enable(id: string): Promise<boolean> {
      const r = await k.updateTable('webhook_subscriptions').set({ enabled: 1, disabled_reason: null }).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    /** A receiver answered 410 Gone: stop sending it anything, and drop its dead letters (it will not take them). */
    async disable(id: string, reason: string, at: string): Promise<void> {
      await k.transaction().execute(async (tx) => {
        await tx.updateTable('webhook_subscriptions').set({ enabled: 0, disabled_reason: reason }).where('id', '=', id).execute();
        await tx
          .updateTable('webhook_deliveries')
          .set({ status: 'cancelled', updated_at: at, last_error: reason })
          .where('subscription_id', '=', id)
          .where('status', 'in', ['pending', 'dead'])
          .execute();
      });
    },

    /** One delivery row per (new event, enabled subscription that wants it); then the event is marked fanned out. */
    async fanOut(now: string, limit = 500): Promise<number> {
      return k.transaction().execute(async (tx) => {
        const events = await tx.selectFrom('webhook_outbox').select(['id', 'type', 'created_at']).where('fanned_out', '=', 0).orderBy('created_at').orderBy('id').limit(limit).execute();
        if (!events.length) return 0;
        const subs = await tx.selectFrom('webhook_subscriptions').select(['id', 'events', 'created_at']).where('enabled', '=', 1).execute();
        // A subscription hears of what happens from its creation on, not of older events still waiting here.
        const rows = events.flatMap((e) =>
          subs
            .filter((s) => (s.events === '*' || s.events.split(',').includes(e.type)) && toIso(s.created_at) <= toIso(e.created_at))
            .map((s) => ({ id: randomUUID(), event_id: e.id, subscription_id: s.id, status: 'pending', attempts: 0, next_attempt_at: now, last_status: null, last_error: null, updated_at: now })),
        );
        for (let i = 0; i < rows.length; i += 200) {
          await tx
            .insertInto('webhook_deliveries')
            .values(rows.slice(i, i + 200))
            .onConflict((oc) => oc.columns(['event_id', 'subscription_id']).doNothing())
            .execute();
        }
        await tx
          .updateTable('webhook_outbox')
          .set({ fanned_out: 1 })
          .where(
            'id',
            'in',
            events.map((e) => e.id),
          )
          .execute();
        return rows.length;
      });
    },

    async due(now: string, limit: number): Promise<DueDelivery[]> {
      const rows = await k
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
        .innerJoin('webhook_outbox as o', 'o.id', 'd.event_id')
        .select(['d.id', 'd.event_id', 'd.attempts', 'd.schedule_from', 's.id as sid', 's.url', 's.secret', 's.previous_secret', 's.previous_secret_until', 'o.payload'])
        .where('d.status', '=', 'pending')
        .where('d.next_attempt_at', '<=', now)
        .where('s.enabled', '=', 1)
        .orderBy('d.next_attempt_at')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        id: r.id,
        event_id: r.event_id,
        attempts: r.attempts,
        scheduleFrom: r.schedule_from,
        subscription: {
          id: r.sid,
          url: r.url,
          secret: r.secret,
          ...previousWhileGrace(r, now),
        },
        // Stored as sent: the exact bytes are what the signature covers.
        body: typeof r.payload === 'string' ? r.payload : JSON.stringify(fromJson(r.payload)),
      }));
    },

    /** Log an attempt and move the delivery on (delivered, retry later, or dead). */
    async attempted(d: {
      id: string;
      attempt: number;
      at: string;
      statusCode: number | null;
      error: string | null;
      durationMs: number;
      /** The start of the receiver's answer, kept for a failed attempt. */
      response?: string | null;
      next: { status: 'delivered' | 'pending' | 'dead' | 'cancelled'; at?: string };
    }): Promise<void> {
      await k.transaction().execute(async (tx) => {
        await tx
          .insertInto('webhook_attempts')
          .values({ id: randomUUID(), delivery_id: d.id, attempt: d.attempt, at: d.at, status_code: d.statusCode, error: d.error, duration_ms: d.durationMs, response: d.response ?? null })
          .execute();
        await tx
          .updateTable('webhook_deliveries')
          .set({ status: d.next.status, attempts: d.attempt, last_status: d.statusCode, last_error: d.error, updated_at: d.at, ...(d.next.at ? { next_attempt_at: d.next.at } : {}) })
          .where('id', '=', d.id)
          .execute();
      });
    },

    /** Forget finished deliveries (and their attempts and events) last touched before `before`; dead letters stay until retried or their subscription goes. */
    async prune(before: string): Promise<number> {
      const old = (await k.selectFrom('webhook_deliveries').select('id').where('status', 'in', ['delivered', 'cancelled']).where('updated_at', '<', before).limit(5000).execute()).map((r) => r.id);
      if (old.length) {
        await k.deleteFrom('webhook_attempts').where('delivery_id', 'in', old).execute();
        await k.deleteFrom('webhook_deliveries').where('id', 'in', old).execute();
      }
      await k
        .deleteFrom('webhook_outbox')
        .where('fanned_out', '=', 1)
        .where('created_at', '<', before)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_id', '=', 'webhook_outbox.id'))))
        .execute();
      return old.length;
    },

    async dlqSize(): Promise<number> {
      const r = await k
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('status', '=', 'dead')
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },

    /**
     * Dead deliveries back to pending, optionally only one subscription's URL or one event id.
     * Their attempts number on; the retry schedule starts over from the next one.
     */
    async retryDlq(filter: { url?: string; eventId?: string }, now: string): Promise<number> {
      let ids = k.selectFrom('webhook_deliveries as d').innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id').select('d.id').where('d.status', '=', 'dead').where('s.enabled', '=', 1);
      if (filter.url) ids = ids.where('s.url', '=', filter.url);
      if (filter.eventId) ids = ids.where((eb) => eb.or([eb('d.event_id', '=', filter.eventId!), eb('d.id', '=', filter.eventId!)]));
      const found = (await ids.execute()).map((r) => r.id);
      for (let i = 0; i < found.length; i += 500) {
        await k
          .updateTable('webhook_deliveries')
          .set(queuedAgain(now))
          .where('id', 'in', found.slice(i, i + 500))
          .execute();
      }
      return found.length;
    },

    /**
     * One delivery queued again whatever became of it (delivered, dead, or cancelled by a 410 Gone
     * since undone): same event, same webhook-id, attempts numbered on, the retry schedule from its
     * start. Refused, with why, when there is nothing to send it to or it is queued already.
     */
    async requeue(id: string, now: string): Promise<RequeueOutcome> {
      return k.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom('webhook_deliveries as d')
          .leftJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
          .select(['d.status', 'd.subscription_id', 'd.attempts', 'd.next_attempt_at', 's.id as sid', 's.enabled', 's.disabled_reason'])
          .where('d.id', '=', id)
          .executeTakeFirst();
        if (!row) return { outcome: 'missing' };
        if (row.sid === null) return { outcome: 'removed', subscription: row.subscription_id };
        if (row.status === 'pending') return { outcome: 'pending', next_attempt_at: toIso(row.next_attempt_at), attempts: row.attempts };
        if (row.enabled !== 1) return { outcome: 'disabled', subscription: row.subscription_id, reason: row.disabled_reason };
        // Only from the status read above: a worker or another operator changing it meanwhile wins.
        const done = await tx.updateTable('webhook_deliveries').set(queuedAgain(now)).where('id', '=', id).where('status', '=', row.status).executeTakeFirst();
        if (!Number(done.numUpdatedRows)) return { outcome: 'changed' };
        return { outcome: 'queued', was: row.status };
      });
    },

    /** Recent deliveries, newest first; optionally of one status, subscription or event. */
    async deliveries(filter: { status?: string; subscription?: string; event?: string; limit: number }): Promise<DeliveryView[]> {
      let q = deliveryRows();
      if (filter.status) q = q.where('d.status', '=', filter.status);
      if (filter.subscription) q = q.where('d.subscription_id', '=', filter.subscription);
      if (filter.event) q = q.where('d.event_id', '=', filter.event);
      const rows = await q.orderBy('d.updated_at', 'desc').orderBy('d.id').limit(filter.limit).execute();
      return rows.map(toDeliveryView);
    },

    /** One delivery and every attempt at it, oldest first; undefined when there is none by that id. */
    async delivery(id: string): Promise<(DeliveryView & { history: AttemptView[] }) | undefined> {
      const row = await deliveryRows().where('d.id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      const attempts = await k
        .selectFrom('webhook_attempts')
        .select(['attempt', 'at', 'status_code', 'error', 'duration_ms', 'response'])
        .where('delivery_id', '=', id)
        .orderBy('attempt')
        .orderBy('at')
        .execute();
      return { ...toDeliveryView(row), history: attempts.map((a) => ({ ...a, at: toIso(a.at), duration_ms: Number(a.duration_ms) })) };
    },
  };
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;
