import { Migrator, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_URL, dropDb, freshDb, randomId } from '../../test/helpers/db.js';
import { runCli } from '../../test/helpers/cli.js';
import { demoModel } from '../../test/helpers/fixtures.js';
import { startTestServer } from '../../test/helpers/server.js';
import { createLogger } from '../lib/logger.js';
import { allMigrations, migrate, openDb, pendingMigrations } from './index.js';

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

// An image rolled back after a release that added a migration: the database knows a migration
// this release does not. Kysely refused that as "corrupted migrations", so the previous image,
// and its migrate job, could not start although the schema only gained tables and columns.
for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`a database a newer release migrated, on ${dialect}`, () => {
    const loc = freshDb(dialect);
    afterAll(() => dropDb(loc));

    it('is used as it is: migrate applies nothing and names the newer migrations; a server and the CLI start on it', async () => {
      const db = await openDb(loc);
      try {
        await migrate(db);
        // What a newer release leaves: its migration's row and what it made.
        await sql`insert into modelgate_migration (name, timestamp) values ('999_from_a_newer_release', '2027-01-01T00:00:00.000Z')`.execute(db.kysely);
        await sql`create table future_things (id integer)`.execute(db.kysely);
        await sql`alter table models add column future_column text`.execute(db.kysely);
        expect(await migrate(db)).toEqual({ results: [], newer: ['999_from_a_newer_release'] });
        expect(await pendingMigrations(db)).toEqual([]);
      } finally {
        await db.close();
      }
      const lines: string[] = [];
      const s = await startTestServer({ db: loc, log: createLogger('warn', { write: (l: string) => lines.push(l) }) });
      try {
        await s.ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
        expect((await s.ctx.registry.listModels()).map((m) => m.name)).toEqual(['hotel']);
        expect(lines.map((l) => JSON.parse(l) as { level: string; msg: string; newer_migrations?: string[] })).toContainEqual(
          expect.objectContaining({
            level: 'warn',
            newer_migrations: ['999_from_a_newer_release'],
            msg: 'the database was migrated by a newer modelgate (999_from_a_newer_release): this release uses it as it is (migrations only add tables and columns); roll forward again when you can',
          }),
        );
        // The migrate job of a rolled-back deployment succeeds.
        const r = await runCli(['migrate', '--json'], s.env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.json()).toMatchObject({ applied: [], pending: [], newer: ['999_from_a_newer_release'] });
      } finally {
        await s.close();
      }
    });

    it("refuses a database that lacks one of this release's own migrations as well, naming both", async () => {
      const db = await openDb(loc);
      try {
        const [last] = (await sql<{ name: string }>`select name from modelgate_migration where name <> '999_from_a_newer_release' order by name desc limit 1`.execute(db.kysely)).rows;
        await sql`delete from modelgate_migration where name = ${last.name}`.execute(db.kysely);
        await expect(migrate(db)).rejects.toThrow(
          `the database has migrations this release does not know (999_from_a_newer_release) and lacks ones it does (${last.name}): it was migrated by another line of releases; use a release that knows all of them`,
        );
      } finally {
        await db.close();
      }
    });
  });
}

/** The migrations modelgate 0.1.0 (2026-12-02) shipped with, read off its src/db/migrations/index.ts. */
const RELEASE_0_1_0 = [
  '001_registry',
  '002_rollouts',
  '003_access',
  '004_audit',
  '005_feedback',
  '006_monitoring',
  '007_webhooks',
  '008_audit_write_cost',
  '009_audit_narrow_indexes',
  '010_arm_stats_cache_hits',
  '011_replaced_tokens',
  '012_task_outcomes',
  '013_arm_stats_score_sum',
  '014_retrain',
  '015_engine_checks',
];

// Rolling the image back to 0.1.0 after an upgrade: its Kysely refused to start on a ledger that
// named migrations it did not know ("corrupted migrations: previously executed migration
// 016_feedback_orphans is missing", seen with the real 0.1.0 build against a database this
// release migrated). 0.1.0's start is its Migrator over its fifteen migrations.
for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`a database this release migrated, rolled back to 0.1.0, on ${dialect}`, () => {
    const loc = freshDb(dialect);
    afterAll(() => dropDb(loc));
    const release010 = (db: Awaited<ReturnType<typeof openDb>>) => {
      const all = allMigrations(db.dialect);
      return new Migrator({ db: db.kysely, provider: { getMigrations: async () => Object.fromEntries(RELEASE_0_1_0.map((name) => [name, all[name]!])) } });
    };
    const ledger = async (db: Awaited<ReturnType<typeof openDb>>, table: string) =>
      (await sql<{ name: string }>`select name from ${sql.table(table)} order by name`.execute(db.kysely)).rows.map((r) => r.name);

    it("keeps 0.1.0's ledger to the migrations 0.1.0 knows, so 0.1.0 starts on it with nothing to apply", async () => {
      const db = await openDb(loc);
      try {
        await migrate(db);
        expect(await ledger(db, 'kysely_migration')).toEqual(RELEASE_0_1_0);
        const later = Object.keys(allMigrations(dialect)).filter((name) => !RELEASE_0_1_0.includes(name));
        expect(later.length).toBeGreaterThan(0);
        expect(await ledger(db, 'modelgate_migration')).toEqual(later);
        expect(await release010(db).migrateToLatest()).toEqual({ results: [] });

        // As builds between 0.1.0 and this change left it: every migration in kysely_migration, which 0.1.0 refuses.
        await sql`insert into kysely_migration (name, timestamp) select name, timestamp from modelgate_migration`.execute(db.kysely);
        await sql`drop table modelgate_migration`.execute(db.kysely);
        expect(String((await release010(db).migrateToLatest()).error)).toMatch(/corrupted migrations: previously executed migration 016_feedback_orphans is missing/);
        // This release moves the later ones to its own ledger and applies nothing again.
        expect(await pendingMigrations(db)).toEqual([]);
        expect(await migrate(db)).toEqual({ results: [] });
        expect(await ledger(db, 'kysely_migration')).toEqual(RELEASE_0_1_0);
        expect(await ledger(db, 'modelgate_migration')).toEqual(later);
        expect(await release010(db).migrateToLatest()).toEqual({ results: [] });
      } finally {
        await db.close();
      }
    });
  });
}
