import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function webhooksMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhook_subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        // Comma-separated event types, or * for all.
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      // Written in the same transaction as the change the event tells of.
      await db.schema
        .createTable('webhook_outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('payload', json, (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        // 0 until the delivery worker has made one delivery row per matching subscription.
        .addColumn('fanned_out', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_outbox_pending').on('webhook_outbox').columns(['fanned_out', 'created_at']).execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        // pending → delivered | dead (dead-letter queue) | cancelled (subscription removed or gone)
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', ts, (c) => c.notNull())
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('updated_at', ts, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_event_sub').on('webhook_deliveries').columns(['event_id', 'subscription_id']).unique().execute();
      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'attempt']).execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['webhook_attempts', 'webhook_deliveries', 'webhook_outbox', 'webhook_subscriptions']) await db.schema.dropTable(t).execute();
    },
  };
}
