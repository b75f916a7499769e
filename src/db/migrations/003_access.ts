import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function accessMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        // Only hashes are stored; the token itself is shown once, at creation or rotation.
        .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
        .addColumn('previous_sha256', 'text')
        .addColumn('previous_expires_at', ts)
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('scopes', json, (c) => c.notNull())
        .addColumn('rate_limit', 'text')
        .addColumn('expires_at', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('rotated_at', ts)
        .addColumn('rotated_by', 'text')
        .addColumn('revoked_at', ts)
        .addColumn('revoked_by', 'text')
        .addColumn('last_used_at', ts)
        .execute();
      await db.schema.createIndex('api_keys_previous').on('api_keys').column('previous_sha256').execute();
      // Servers poll this counter to drop cached keys when any key changes anywhere in the cluster.
      await sql`insert into modelgate_meta (key, value) values ('access_revision', 0)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('api_keys').execute();
      await sql`delete from modelgate_meta where key = 'access_revision'`.execute(db);
    },
  };
}
