import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * A subscription's previous signing secret and until when deliveries are signed with it too, so
 * a secret can be changed while the receiver still checks the old one (Standard Webhooks lets a
 * request carry several signatures for this).
 */
export function webhookSecretRotationMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webhook_subscriptions').addColumn('previous_secret', 'text').execute();
      await db.schema.alterTable('webhook_subscriptions').addColumn('previous_secret_until', ts).execute();
      await db.schema.alterTable('webhook_subscriptions').addColumn('secret_rotated_at', ts).execute();
      await db.schema.alterTable('webhook_subscriptions').addColumn('secret_rotated_by', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('webhook_subscriptions').dropColumn('secret_rotated_by').execute();
      await db.schema.alterTable('webhook_subscriptions').dropColumn('secret_rotated_at').execute();
      await db.schema.alterTable('webhook_subscriptions').dropColumn('previous_secret_until').execute();
      await db.schema.alterTable('webhook_subscriptions').dropColumn('previous_secret').execute();
    },
  };
}
