import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, migrate, type Db } from '../db/index.js';
import { createLogger } from '../lib/logger.js';
import { DIALECTS, dropDb, freshDb, PG_URL, randomId, type DbLocation } from '../../test/helpers/db.js';
import { ThrowawayPgBouncer } from '../../test/helpers/throwaway-pgbouncer.js';
import { createLeader, type Leader, type LeaderElection } from './leader.js';

const log = createLogger('silent');

/** Ask until `leader` leads (a lease running out in real time), at most 10 s. */
async function leadsWithin(leader: Leader, now: () => number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await leader.acquire(now())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe.each(DIALECTS)('leader election on %s', (dialect) => {
  let loc: DbLocation;
  let db: Db;
  beforeAll(async () => {
    loc = freshDb(dialect);
    db = await openDb(loc);
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await dropDb(loc);
  });

  if (dialect === 'postgres') {
    it('lock: a database out of reach is said once, and that the election works again', async () => {
      const lines: string[] = [];
      const captured = createLogger('info', { write: (l: string) => lines.push(l) });
      const pgLoc = loc as Extract<DbLocation, { kind: 'postgres' }>;
      // Nothing listens on port 1; the same Db pointed back at the real server later.
      const location = { ...pgLoc, url: 'postgres://postgres@127.0.0.1:1/postgres' };
      const leader = createLeader({ ...db, location }, 'outage-job', 'replica-a', 1000, captured, 'lock');
      for (let i = 0; i < 4; i++) expect(await leader.acquire(1_000_000 + i)).toBe(false);
      location.url = pgLoc.url;
      expect(await leader.acquire(1_000_010)).toBe(true);
      await leader.release();
      const said = lines.map((l) => JSON.parse(l) as { level: string; msg: string; failed_attempts?: number });
      expect(said.map((l) => [l.level, l.msg])).toEqual([
        ['warn', 'leader election failed; retrying (said again only if the error changes)'],
        ['info', 'leader election works again after 4 failed attempts'],
      ]);
    });
  }

  const elections: LeaderElection[] = dialect === 'postgres' ? ['lease', 'lock'] : ['lease'];
  it.each(elections)('%s: one holder at a time; a leader that stops cleanly hands over at once', async (election) => {
    const a = createLeader(db, `job-${election}`, 'replica-a', 60_000, log, election);
    const b = createLeader(db, `job-${election}`, 'replica-b', 60_000, log, election);
    const t0 = 1_000_000;
    expect(await a.acquire(t0)).toBe(true);
    expect(await b.acquire(t0 + 10)).toBe(false);
    expect(await a.acquire(t0 + 40_000)).toBe(true); // renewal
    expect(await b.acquire(t0 + 50_000)).toBe(false);
    await a.release();
    expect(await b.acquire(t0 + 50_100)).toBe(true);
    expect(await a.acquire(t0 + 50_200)).toBe(false);
    await a.release();
    await b.release();
  });

  it('lease: a leader that stops renewing (crashed) loses it once it runs out, and then knows it does not lead', async () => {
    if (dialect === 'sqlite') {
      // One machine's clock, the callers'.
      const a = createLeader(db, 'crash', 'replica-a', 1000, log);
      const b = createLeader(db, 'crash', 'replica-b', 1000, log);
      const t0 = 1_000_000;
      expect(await a.acquire(t0)).toBe(true);
      expect(await b.acquire(t0 + 900)).toBe(false);
      expect(await b.acquire(t0 + 1001)).toBe(true);
      expect(await a.acquire(t0 + 1100)).toBe(false);
      await b.release();
      return;
    }
    // The database server's clock: a's short lease runs out in real time; b's, a minute long,
    // still holds however slowly this machine reaches a's next attempt.
    const a = createLeader(db, 'crash', 'replica-a', 300, log);
    const b = createLeader(db, 'crash', 'replica-b', 60_000, log);
    expect(await a.acquire(Date.now())).toBe(true);
    expect(await leadsWithin(b, Date.now)).toBe(true);
    await new Promise((r) => setTimeout(r, 200)); // past a's half term: it writes, and finds b holding
    expect(await a.acquire(Date.now())).toBe(false);
    await b.release();
  });

  if (dialect === 'postgres')
    it("lease: timed by the server's clock, so a replica whose clock runs hours ahead does not take a live lease", async () => {
      const a = createLeader(db, 'skew', 'replica-a', 60_000, log);
      const b = createLeader(db, 'skew', 'replica-b', 60_000, log);
      expect(await a.acquire(Date.now())).toBe(true);
      expect(await b.acquire(Date.now() + 10 * 3_600_000)).toBe(false);
      const row = await db.kysely.selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', 'skew').executeTakeFirstOrThrow();
      expect(row.holder).toBe('replica-a');
      // Written by the server's clock: about a minute from now, not from either caller's figure.
      expect(Math.abs(Number(row.expires_at) - (Date.now() + 60_000))).toBeLessThan(30_000);
      await a.release();
    });

  // The half-term rule, with the callers' clock (SQLite's).
  if (dialect === 'sqlite')
    it('renews a SQLite lease only once half of it has run out, and never past what it wrote', async () => {
      const a = createLeader(db, 'half-term', 'replica-a', 1000, log);
      const b = createLeader(db, 'half-term', 'replica-b', 1000, log);
      const t0 = 2_000_000;
      const expiry = async () => (await db.kysely.selectFrom('leases').select('expires_at').where('name', '=', 'half-term').executeTakeFirstOrThrow()).expires_at;
      expect(await a.acquire(t0)).toBe(true);
      expect(await expiry()).toBe(t0 + 1000);
      // More than half the term left: nothing is written, so this answers while another
      // connection holds the database's write lock (a write would wait for it, then fail).
      const other = new SQLite((loc as Extract<DbLocation, { kind: 'sqlite' }>).file, { timeout: 0 });
      other.exec('begin immediate');
      try {
        expect(await a.acquire(t0 + 400)).toBe(true);
      } finally {
        other.exec('rollback');
        other.close();
      }
      expect(await expiry()).toBe(t0 + 1000);
      // Half or less left: renewed.
      expect(await a.acquire(t0 + 600)).toBe(true);
      expect(await expiry()).toBe(t0 + 1600);
      // The clock stepped back: the lease is written again, not trusted from memory.
      expect(await a.acquire(t0 + 500)).toBe(true);
      expect(await expiry()).toBe(t0 + 1500);
      // …and from that write on, half term is counted again.
      expect(await a.acquire(t0 + 600)).toBe(true);
      expect(await expiry()).toBe(t0 + 1500);
      // a stops; b takes over once the lease a wrote has run out, and a does not believe it still leads.
      expect(await b.acquire(t0 + 1500)).toBe(false);
      expect(await b.acquire(t0 + 1601)).toBe(true);
      expect(await a.acquire(t0 + 1700)).toBe(false);
      expect(await a.acquire(t0 + 1750)).toBe(false);
      await a.release();
      await b.release();
    });
});

/**
 * Replicas that reach PostgreSQL through PgBouncer in transaction pooling, as managed poolers
 * run: a connection is not one server session, so a session's advisory lock is no election.
 */
describe('leader election behind a transaction pooler (PgBouncer)', () => {
  let bouncer: ThrowawayPgBouncer;
  const database = randomId('mg_pooled');
  const admin = () => new pg.Client({ connectionString: PG_URL });
  const dbs: Db[] = [];
  const open = async () => {
    const d = await openDb({ kind: 'postgres', url: bouncer.url(database) });
    dbs.push(d);
    return d;
  };
  beforeAll(async () => {
    const c = admin();
    await c.connect();
    await c.query(`create database ${database}`);
    await c.end();
    const url = new URL(PG_URL);
    bouncer = await ThrowawayPgBouncer.create({ host: url.hostname, port: Number(url.port || 5432) });
    await migrate(await open());
  }, 60_000);
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.close()));
    await bouncer?.stop();
    const c = admin();
    await c.connect();
    await c.query(`drop database if exists ${database} with (force)`);
    await c.end();
  });

  it('lease (the default): one leader at a time through the pooler, handed over when it stops', async () => {
    const [da, db] = [await open(), await open()];
    const a = createLeader(da, 'pooled', 'replica-a', 60_000, log);
    const b = createLeader(db, 'pooled', 'replica-b', 60_000, log);
    expect(await a.acquire(Date.now())).toBe(true);
    expect(await b.acquire(Date.now())).toBe(false);
    await a.release();
    expect(await b.acquire(Date.now())).toBe(true);
    expect(await a.acquire(Date.now())).toBe(false);
    await b.release();
  });

  it('lock: both replicas believe they lead, as they share the pooled session that holds it (why lease is the default)', async () => {
    const [da, db] = [await open(), await open()];
    const a = createLeader(da, 'pooled-lock', 'replica-a', 60_000, log, 'lock');
    const b = createLeader(db, 'pooled-lock', 'replica-b', 60_000, log, 'lock');
    expect(await a.acquire(Date.now())).toBe(true);
    expect(await b.acquire(Date.now())).toBe(true);
    await a.release();
    await b.release();
  });
});
