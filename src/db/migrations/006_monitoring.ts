import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function monitoringMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('monitoring_reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('version', 'integer')
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('window_from', ts, (c) => c.notNull())
        .addColumn('window_to', ts, (c) => c.notNull())
        .addColumn('predictions', 'integer', (c) => c.notNull())
        // Names of the alerts that fired, comma-separated, for listing without reading reports.
        .addColumn('alerts_firing', 'text', (c) => c.notNull())
        .addColumn('report', json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('monitoring_reports_model').on('monitoring_reports').columns(['model', 'created_at', 'id']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('monitoring_reports').execute();
    },
  };
}
