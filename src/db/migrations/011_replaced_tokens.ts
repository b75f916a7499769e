import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Hashes of tokens a rotation replaced. A key row holds only its current token and, during the
 * grace period, the previous one; a caller still sending an older token after that would get
 * "invalid token", as if it had never existed. With this table it gets 401 saying the token
 * was replaced and that the key has a new one.
 */
export function replacedTokensMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_key_replaced_tokens')
        .addColumn('token_sha256', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
        .addColumn('replaced_at', ts, (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('api_key_replaced_tokens').execute();
    },
  };
}
