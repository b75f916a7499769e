import type pg from 'pg';
import { sql, type Expression } from 'kysely';
import { dedicatedPgClient, type Db } from '../db/index.js';
import { FailureStreak } from '../lib/failure-streak.js';
import type { Logger } from '../lib/logger.js';

/**
 * One leader per cluster for a named job. By default a lease row, renewed by a run once less
 * than half of `leaseMs` is left; it expires after `leaseMs`, so another process takes over when
 * the holder stops renewing, and at once when it stops cleanly (release deletes it). On
 * PostgreSQL the lease is timed by the database server's clock, so replicas whose clocks differ
 * still agree on when it ends. PostgreSQL with `lock`: a session advisory lock on a dedicated
 * connection, released by the server the moment a leader process dies — but only where a
 * connection is one server session: behind a transaction or statement pooler (PgBouncer,
 * managed poolers) the lock stays with a pooled session after its holder is gone, and another
 * replica handed that session takes it again, so two replicas lead.
 */
export interface Leader {
  /** True if this process leads now (acquiring or renewing as needed). */
  acquire(now: number): Promise<boolean>;
  release(): Promise<void>;
}

export type LeaderElection = 'lease' | 'lock';

export function createLeader(db: Db, name: string, holder: string, leaseMs: number, log: Logger, election: LeaderElection = 'lease'): Leader {
  if (db.location.kind === 'postgres' && election === 'lock') {
    const loc = db.location;
    let client: pg.Client | undefined;
    let held = false;
    // Said once per outage (and when the error changes), not on every attempt.
    const failures = new FailureStreak();
    return {
      async acquire() {
        try {
          if (!client) {
            client = await dedicatedPgClient(loc);
            // A dropped connection loses the lock; forget the client so the next run reconnects.
            client.on('error', () => {
              held = false;
              client = undefined;
            });
          }
          if (held) {
            await client.query('select 1');
            return true;
          }
          // The key includes the schema, so isolated schemas (tests, tenants) elect separately.
          const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext(current_schema() || $1)) as ok', [`:modelgate:${name}`]);
          held = r.rows[0]?.ok === true;
          const failed = failures.succeeded();
          if (failed) log.info({ job: name, failed_attempts: failed }, `leader election works again after ${failed} failed attempt${failed === 1 ? '' : 's'}`);
          return held;
        } catch (e) {
          const error = (e as Error).message;
          if (failures.failed(error)) log.warn({ err: error, job: name }, 'leader election failed; retrying (said again only if the error changes)');
          held = false;
          await client?.end().catch(() => undefined);
          client = undefined;
          return false;
        }
      },
      async release() {
        held = false;
        await client?.end().catch(() => undefined);
        client = undefined;
      },
    };
  }
  const k = db.kysely;
  /** When this process last wrote the lease it holds (undefined: it holds none), by its own clock. */
  let wroteAt: number | undefined;
  // The lease's times: on PostgreSQL the server's clock (ms), shared by every replica; on SQLite,
  // one machine's, the caller's.
  const at = (now: number): Expression<number> => (db.dialect === 'postgres' ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint` : sql<number>`${now}`);
  return {
    async acquire(callerNow) {
      // How long ago this process wrote its lease, on the clock the lease runs by: the caller's
      // on SQLite; on PostgreSQL the server's, so elapsed real time here (taken before the write,
      // so the lease ends no sooner than this reckons).
      const now = db.dialect === 'postgres' ? performance.now() : callerNow;
      // Held with more than half its term left: no other process may take it before it runs out,
      // so this run writes nothing. A write here takes SQLite's one write lock, and waits
      // (on the request thread) while the audit thread holds it for a batch; renewing at half
      // term instead of every run cuts those writes about fivefold for the webhook job.
      // A clock that stepped back since then says nothing about the lease: write, as before.
      if (wroteAt !== undefined && now >= wroteAt && now - wroteAt < leaseMs / 2) return true;
      if (wroteAt === undefined || now - wroteAt >= leaseMs) {
        await k
          .insertInto('leases')
          .values({ name, holder, expires_at: sql<number>`${at(now)} + ${leaseMs}` })
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
      }
      const res = await k
        .updateTable('leases')
        .set({ holder, expires_at: sql<number>`${at(now)} + ${leaseMs}` })
        .where('name', '=', name)
        .where((eb) => eb.or([eb('holder', '=', holder), eb('expires_at', '<', at(now))]))
        .executeTakeFirst();
      const held = Number(res.numUpdatedRows) === 1;
      wroteAt = held ? now : undefined;
      return held;
    },
    async release() {
      wroteAt = undefined;
      await k.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
    },
  };
}
