import type { Kysely, Migration } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Dead letters of a subscription that was removed, or disabled by its receiver's 410 Gone, stayed
 * dead: `retry-dlq` skips them (there is no receiver to send them to), so the dead-letter count
 * and its alert stayed up with nothing an operator could do. Removing and disabling now cancel
 * them; this cancels those left from before.
 */
export function webhookOrphanDeadLettersMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const k = db as unknown as Kysely<Pick<Database, 'webhook_deliveries' | 'webhook_subscriptions'>>;
      await k
        .updateTable('webhook_deliveries')
        .set({ status: 'cancelled', updated_at: new Date().toISOString() })
        .where('status', '=', 'dead')
        .where((eb) => eb.not(eb.exists(eb.selectFrom('webhook_subscriptions as s').select('s.id').whereRef('s.id', '=', 'webhook_deliveries.subscription_id').where('s.enabled', '=', 1))))
        .execute();
    },
    async down() {
      // Nothing to undo: a cancelled dead letter had nowhere to go.
    },
  };
}
