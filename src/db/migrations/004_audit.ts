import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function auditMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('predictions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('arm', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text')
        // AUDIT_FEATURES=full: the payload as received; hashed: its SHA-256 only; none: neither.
        .addColumn('features', json)
        .addColumn('features_sha256', 'text')
        .addColumn('score', 'double precision', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('latency_ms', 'double precision', (c) => c.notNull())
        .addColumn('cached', 'integer', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .execute();
      await db.schema.createIndex('predictions_model_at').on('predictions').columns(['model', 'at', 'id']).execute();
      await db.schema.createIndex('predictions_at').on('predictions').columns(['at', 'id']).execute();
      await db.schema.createIndex('predictions_event').on('predictions').column('event_id').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('predictions').execute();
    },
  };
}
