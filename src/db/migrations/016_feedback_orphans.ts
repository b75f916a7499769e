import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Retention deleted audit records but left the outcomes reported for them (each with the
 * caller's event id), which nothing could read again. Retention now deletes both; this removes
 * the outcomes it left behind before.
 */
export function feedbackOrphansMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`delete from feedback where not exists (select 1 from predictions p where p.id = feedback.prediction_id)`.execute(db);
    },
    // Nothing to put back: the removed rows belonged to deleted predictions.
    async down() {},
  };
}
