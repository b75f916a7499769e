import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_URL, dropDb, freshDb, randomId } from '../../test/helpers/db.js';
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

  it('introspects only its own schema, so another schema being dropped meanwhile cannot fail a migration', async () => {
    // Kysely's default introspector walks every schema and calls pg_get_serial_sequence per table;
    // a schema dropped between its catalog read and that call failed a parallel test's migration
    // with "schema … does not exist". Churn schemas with serial columns while this one migrates.
    const churn = new pg.Client({ connectionString: PG_URL });
    await churn.connect();
    let stop = false;
    const churning = (async () => {
      while (!stop) {
        const name = randomId('churn');
        await churn.query(`create schema ${name}; ${Array.from({ length: 20 }, (_, i) => `create table ${name}.t${i} (id serial primary key, a int, b text)`).join(';')}`);
        await churn.query(`drop schema ${name} cascade`);
      }
    })();
    const c = freshDb('postgres');
    try {
      const db = await openDb(c);
      try {
        await migrate(db);
        for (let i = 0; i < 40; i++) expect(await pendingMigrations(db)).toEqual([]);
        const tables = await db.kysely.introspection.getTables({ withInternalKyselyTables: true });
        expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([c.kind === 'postgres' ? c.schema : '']));
        expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['api_keys', 'kysely_migration', 'predictions']));
        const keys = tables.find((t) => t.name === 'api_keys');
        expect(keys?.columns.find((col) => col.name === 'id')).toMatchObject({ isNullable: false });
      } finally {
        await db.close();
      }
    } finally {
      stop = true;
      await churning;
      await churn.end();
      await dropDb(c);
    }
  });
});
