import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshDb } from '../../test/helpers/db.js';
import { openDb, type Db } from './index.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';

// A server's SQLite file has other writers: the audit log's writer thread, CLI commands, other
// servers. A transaction that reads before it writes must not fail because one of them
// committed in between (SQLite's "database is locked" for a stale snapshot, which no busy
// timeout waits out).
describe('SQLite transactions beside another writer', () => {
  let db: Db;
  let other: SQLite.Database;

  beforeEach(async () => {
    const loc = freshDb('sqlite');
    db = await openDb(loc);
    await sql`create table t (x integer)`.execute(db.kysely);
    await sql`insert into t (x) values (1)`.execute(db.kysely);
    // No busy timeout: a write it cannot make at once fails instead of waiting.
    other = new SQLite((loc as { file: string }).file, { timeout: 0 });
  });

  afterEach(async () => {
    other.close();
    await db.close();
  });

  const count = async () => Number((await sql<{ n: number }>`select count(*) as n from t`.execute(db.kysely)).rows[0].n);

  it('a transaction that reads, then writes, holds the write lock from its start', async () => {
    let otherError: unknown = null;
    await db.kysely.transaction().execute(async (tx) => {
      const before = await sql<{ n: number }>`select count(*) as n from t`.execute(tx);
      expect(Number(before.rows[0].n)).toBe(1);
      try {
        other.prepare('insert into t (x) values (2)').run();
      } catch (e) {
        otherError = e;
      }
      // With a deferred BEGIN this write fails when the other connection committed above.
      await sql`insert into t (x) values (3)`.execute(tx);
    });
    expect((otherError as { code?: string } | null)?.code).toBe('SQLITE_BUSY');
    expect(await count()).toBe(2);
    // The lock is released with the commit.
    other.prepare('insert into t (x) values (4)').run();
    expect(await count()).toBe(3);
  });

  it('a read-only transaction takes no write lock (a backup does not stop the audit writer)', async () => {
    await db.kysely
      .transaction()
      .setAccessMode('read only')
      .execute(async (tx) => {
        const first = await sql<{ n: number }>`select count(*) as n from t`.execute(tx);
        other.prepare('insert into t (x) values (2)').run();
        // Still the snapshot it began with.
        const again = await sql<{ n: number }>`select count(*) as n from t`.execute(tx);
        expect([Number(first.rows[0].n), Number(again.rows[0].n)]).toEqual([1, 1]);
      });
    expect(await count()).toBe(2);
  });

  // SQLite rolls the whole transaction back itself on a full disk (here a page limit, which
  // fails the same way, SQLITE_FULL). Kysely's ROLLBACK after it found no transaction, and
  // its "cannot rollback - no transaction is active" hid the reason from every caller.
  it("a transaction SQLite rolled back itself fails with SQLite's reason, and the file stays usable", async () => {
    const pages = Number((await sql<{ page_count: number }>`pragma page_count`.execute(db.kysely)).rows[0].page_count);
    await sql.raw(`pragma max_page_count = ${pages + 2}`).execute(db.kysely);
    let failure: unknown = null;
    try {
      await db.kysely.transaction().execute(async (tx) => {
        await sql`insert into t (x) values (2)`.execute(tx);
        await sql`create table big (b blob)`.execute(tx);
        for (let i = 0; i < 50; i++) await sql`insert into big (b) values (${Buffer.alloc(4000)})`.execute(tx);
      });
    } catch (e) {
      failure = e;
    }
    expect(failure).toMatchObject({ code: 'SQLITE_FULL', message: 'database or disk is full' });
    expect(await count()).toBe(1);
    await sql.raw('pragma max_page_count = 1073741823').execute(db.kysely);
    await db.kysely.transaction().execute((tx) => sql`insert into t (x) values (5)`.execute(tx));
    expect(await count()).toBe(2);
  });
});

// SQLite's busy timeout sleeps in the thread that waits, and the request thread's connection is
// on the event loop: while another connection held the write lock (a CLI command, a sqlite3
// shell, the audit writer), one background write stopped every request for up to 5 s.
describe('waiting for a lock another connection holds', () => {
  let db: Db;
  let file: string;
  let other: SQLite.Database;

  beforeEach(async () => {
    const loc = freshDb('sqlite');
    file = (loc as { file: string }).file;
    db = await openDb(loc);
    await sql`create table t (x integer)`.execute(db.kysely);
    other = new SQLite(file, { timeout: 0 });
    other.exec('begin immediate');
  });

  afterEach(async () => {
    if (other.inTransaction) other.exec('rollback');
    other.close();
    await db.close();
  });

  const settledAfterTurns = async (p: Promise<unknown>, turns: number): Promise<{ settled: boolean; turns: number }> => {
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    let ran = 0;
    for (; ran < turns && !settled; ran++) await nextTurn();
    return { settled, turns: ran };
  };

  it('a write waits with the event loop free, then lands when the lock is released', async () => {
    const write = sql`insert into t (x) values (1)`.execute(db.kysely);
    // With SQLite's own wait the first turn came only after 5 s, the write failed by then.
    expect(await settledAfterTurns(write, 50)).toEqual({ settled: false, turns: 50 });
    other.exec('commit');
    await write;
    expect(other.prepare('select count(*) as n from t').get()).toEqual({ n: 1 });
  });

  it('a transaction waits for the write lock the same way', async () => {
    const tx = db.kysely.transaction().execute(async (t) => {
      await sql`insert into t (x) values (1)`.execute(t);
      await sql`insert into t (x) values (2)`.execute(t);
    });
    expect(await settledAfterTurns(tx, 50)).toEqual({ settled: false, turns: 50 });
    other.exec('commit');
    await tx;
    expect(other.prepare('select count(*) as n from t').get()).toEqual({ n: 2 });
  });

  it('reads go on while a write waits for the lock, and writers that waited each land whole', async () => {
    const write = sql`insert into t (x) values (1)`.execute(db.kysely);
    const tx = db.kysely.transaction().execute(async (t) => {
      await sql`insert into t (x) values (2)`.execute(t);
      await sql`insert into t (x) values (3)`.execute(t);
    });
    await nextTurn();
    // The read does not queue behind the two writers' wait on the one connection.
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(db.kysely)).rows[0]).toEqual({ n: 0 });
    expect(await settledAfterTurns(Promise.all([write, tx]), 20)).toEqual({ settled: false, turns: 20 });
    other.exec('commit');
    await Promise.all([write, tx]);
    expect(other.prepare('select x from t order by x').all()).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
  });

  it("gives up after its wait with SQLite's own error, having waited in steps", async () => {
    let clock = 0;
    const pauses: number[] = [];
    const waiting = new Kysely<Record<string, never>>({
      dialect: new ImmediateSqliteDialect(
        { database: new SQLite(file) },
        {
          waitMs: 1000,
          now: () => clock,
          sleep: async (ms) => {
            pauses.push(ms);
            clock += ms;
          },
        },
      ),
    });
    try {
      await expect(sql`insert into t (x) values (1)`.execute(waiting)).rejects.toMatchObject({ code: 'SQLITE_BUSY', message: 'database is locked' });
      expect(pauses.reduce((a, b) => a + b, 0)).toBe(1000);
      expect(pauses.length).toBeGreaterThan(10);
      expect(Math.max(...pauses)).toBeLessThanOrEqual(50);
    } finally {
      await waiting.destroy();
    }
    other.exec('commit');
  });
});
