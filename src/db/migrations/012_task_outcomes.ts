import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Multiclass and regression models: a prediction keeps its predicted class (`label`; the score
 * is that class's probability, or the value), and feedback keeps the real class or value.
 * feedback.label (the binary 0/1 outcome) becomes nullable; SQLite cannot drop NOT NULL in
 * place, so its table is rebuilt with the same rows.
 */
export function taskOutcomesMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('predictions').addColumn('label', 'text').execute();
      if (dialect === 'postgres') {
        await sql`alter table feedback alter column label drop not null`.execute(db);
        await db.schema.alterTable('feedback').addColumn('actual_class', 'text').execute();
        await db.schema.alterTable('feedback').addColumn('actual_value', 'double precision').execute();
        return;
      }
      await db.schema
        .createTable('feedback_next')
        .addColumn('prediction_id', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text')
        .addColumn('label', 'integer')
        .addColumn('value', 'double precision')
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('actual_class', 'text')
        .addColumn('actual_value', 'double precision')
        .execute();
      await sql`insert into feedback_next (prediction_id, model, event_id, label, value, at, key_id) select prediction_id, model, event_id, label, value, at, key_id from feedback`.execute(db);
      await db.schema.dropTable('feedback').execute();
      await sql`alter table feedback_next rename to feedback`.execute(db);
      await db.schema.createIndex('feedback_model_at').on('feedback').columns(['model', 'at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('predictions').dropColumn('label').execute();
      await db.schema.alterTable('feedback').dropColumn('actual_class').execute();
      await db.schema.alterTable('feedback').dropColumn('actual_value').execute();
    },
  };
}
