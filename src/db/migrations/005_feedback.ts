import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function feedbackMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('feedback')
        // One outcome per prediction: a later report for the same prediction replaces it.
        .addColumn('prediction_id', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text')
        .addColumn('label', 'integer', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('key_id', 'text')
        .execute();
      await db.schema.createIndex('feedback_model_at').on('feedback').columns(['model', 'at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('feedback').execute();
    },
  };
}
