import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function registryMigration(dialect: Dialect): Migration {
  const ts = dialect === 'postgres' ? 'timestamptz' : 'text';
  const json = dialect === 'postgres' ? 'jsonb' : 'text';
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('models')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text')
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('model_versions')
        .addColumn('model', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('onnx_sha256', 'text', (c) => c.notNull())
        .addColumn('manifest_sha256', 'text', (c) => c.notNull())
        .addColumn('contract_version', 'integer', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
        .addColumn('manifest', sql.raw(json), (c) => c.notNull())
        .addColumn('created_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_versions_pk', ['model', 'version'])
        .execute();
      await db.schema
        .createTable('aliases')
        .addColumn('model', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', sql.raw(ts), (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['model', 'alias'])
        .execute();
      await db.schema
        .createTable('alias_events')
        .addColumn('id', 'integer', (c) => (dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('version', 'integer')
        .addColumn('previous_version', 'integer')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('at', sql.raw(ts), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alias_events_model_alias').on('alias_events').columns(['model', 'alias', 'id']).execute();
      await db.schema
        .createTable('modelgate_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into modelgate_meta (key, value) values ('registry_revision', 0)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['modelgate_meta', 'alias_events', 'aliases', 'model_versions', 'models']) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}
