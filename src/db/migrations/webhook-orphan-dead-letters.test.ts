import { afterAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../../test/helpers/db.js';
import { migrate, openDb } from '../index.js';
import { webhookOrphanDeadLettersMigration } from './021_webhook_orphan_dead_letters.js';

for (const dialect of DIALECTS) {
  describe(`migration 021 on ${dialect}`, () => {
    const loc = freshDb(dialect);
    afterAll(() => dropDb(loc));

    it('cancels the dead letters of removed and disabled subscriptions, and keeps every other delivery as it was', async () => {
      const db = await openDb(loc);
      try {
        await migrate(db);
        const at = '2026-11-01T00:00:00.000Z';
        const subscription = (id: string, enabled: number) => ({
          id,
          url: `https://example.com/${id}`,
          secret: 'whsec_x',
          events: '*',
          enabled,
          disabled_reason: enabled ? null : 'the receiver answered 410 Gone',
          created_at: at,
          created_by: 't',
        });
        await db.kysely
          .insertInto('webhook_subscriptions')
          .values([subscription('wh_live', 1), subscription('wh_gone', 0)])
          .execute();
        const delivery = (id: string, subscription_id: string, status: string) => ({
          id,
          event_id: `msg_${id}`,
          subscription_id,
          status,
          attempts: 7,
          next_attempt_at: at,
          last_status: 500,
          last_error: 'HTTP 500',
          updated_at: at,
        });
        // What removing and disabling left before: dead letters with no receiver to retry them.
        await db.kysely
          .insertInto('webhook_deliveries')
          .values([
            delivery('live-dead', 'wh_live', 'dead'),
            delivery('live-pending', 'wh_live', 'pending'),
            delivery('gone-dead', 'wh_gone', 'dead'),
            delivery('removed-dead', 'wh_removed', 'dead'),
            delivery('removed-done', 'wh_removed', 'delivered'),
          ])
          .execute();
        await webhookOrphanDeadLettersMigration().up(db.kysely);
        const rows = await db.kysely.selectFrom('webhook_deliveries').select(['id', 'status']).orderBy('id').execute();
        expect(rows.map((r) => [r.id, r.status])).toEqual([
          ['gone-dead', 'cancelled'],
          ['live-dead', 'dead'],
          ['live-pending', 'pending'],
          ['removed-dead', 'cancelled'],
          ['removed-done', 'delivered'],
        ]);
      } finally {
        await db.close();
      }
    });
  });
}
