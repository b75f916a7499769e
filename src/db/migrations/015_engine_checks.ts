import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Which engine serves each version (compiled JavaScript or onnxruntime), why, and the memory it
 * holds: written by registration's smoke test and by every server that loads the version, so
 * `modelgate models` and the version API can say it without loading anything.
 */
export function engineChecksMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('engine_checks')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('memory_bytes', 'bigint', (c) => c.notNull())
        .addColumn('checked_at', ts, (c) => c.notNull())
        .addPrimaryKeyConstraint('engine_checks_pk', ['model', 'version'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('engine_checks').execute();
    },
  };
}
