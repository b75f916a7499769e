import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDb, freshDb } from '../../test/helpers/db.js';
import { migrate, openDb, pendingMigrations } from './index.js';

describe('migrations on PostgreSQL with two schemas in one database', () => {
  const a = freshDb('postgres');
  const b = freshDb('postgres');
  afterAll(async () => {
    await dropDb(a);
    await dropDb(b);
  });

  it('migrating one schema does not make the other look migrated', async () => {
    const dbA = await openDb(a);
    await migrate(dbA);
    await dbA.close();
    // Schema b is new while a already has Kysely's migration tables.
    const dbB = await openDb(b);
    try {
      expect((await pendingMigrations(dbB)).length).toBeGreaterThan(0);
      await migrate(dbB);
      expect(await pendingMigrations(dbB)).toEqual([]);
      const r = await sql<{ n: number }>`select count(*)::int as n from api_keys`.execute(dbB.kysely);
      expect(r.rows[0].n).toBe(0);
      const where = await sql<{ schema: string }>`select table_schema as schema from information_schema.tables where table_name = 'kysely_migration' order by 1`.execute(dbB.kysely);
      expect(where.rows.map((x) => x.schema)).toEqual(expect.arrayContaining([a.kind === 'postgres' ? a.schema : '', b.kind === 'postgres' ? b.schema : '']));
    } finally {
      await dbB.close();
    }
  });
});
