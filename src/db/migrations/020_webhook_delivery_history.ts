import type { Kysely, Migration } from 'kysely';

/**
 * What an on-call needs to fix a receiver and replay its dead letters: the start of what the
 * receiver answered to each failed attempt, and a delivery's attempts numbered on across
 * `retry-dlq` (which used to reset the count, so a replayed delivery's log had two attempt 1s).
 * `schedule_from` is the attempt count when the delivery was last queued again: the retry
 * schedule starts over from there. `requeued` counts how often it was.
 */
export function webhookDeliveryHistoryMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('webhook_attempts').addColumn('response', 'text').execute();
      await db.schema
        .alterTable('webhook_deliveries')
        .addColumn('schedule_from', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('webhook_deliveries')
        .addColumn('requeued', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('webhook_deliveries').dropColumn('requeued').execute();
      await db.schema.alterTable('webhook_deliveries').dropColumn('schedule_from').execute();
      await db.schema.alterTable('webhook_attempts').dropColumn('response').execute();
    },
  };
}
