import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.js';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, type TestServer } from './helpers/server.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

/** Polls until cond holds (replication and a promotion take their time on a loaded machine); false after 30 s. */
async function eventually(cond: () => Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await cond().catch(() => false)) return true;
  return cond();
}

const STANDBY = /^the PostgreSQL server takes no writes \(25006: cannot execute \S+ (in a read-only transaction|during recovery)\): DATABASE_URL leads to a standby/;

/**
 * A real streaming replica (pg_basebackup from a throwaway primary), not a read-only role: a
 * server started against the standby, as one whose DATABASE_URL names a read replica or the old
 * primary in a failover; then the standby promoted, as the failover ends. A standby words its
 * refusals its own way ("cannot execute COPY during recovery"), which the simulated one in
 * pg-read-only.test.ts does not.
 */
describe('a server on a PostgreSQL hot standby, then that standby promoted', () => {
  let primary: ThrowawayPostgres;
  let standby: ThrowawayPostgres;
  let s: TestServer;
  const dataDir = tempDir();
  const logged: { level: string; msg: string; err?: string }[] = [];
  const row = rowPayload(demoModel().holdout.data, 0);
  const count = async (table: string) => {
    const c = new pg.Client({ connectionString: standby.url });
    await c.connect();
    try {
      return Number((await c.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n);
    } finally {
      await c.end();
    }
  };
  const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const r = await s.app.inject({ method, url, headers: { ...s.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    return { status: r.statusCode, body: r.json() };
  };

  beforeAll(async () => {
    primary = await ThrowawayPostgres.create();
    // Migrated, with a model in production, on the primary; then copied and followed by the standby.
    const first = await startTestServer({ db: { kind: 'postgres', url: primary.url }, dataDir, jobs: false });
    await serveDemo(first);
    await first.stop();
    standby = await ThrowawayPostgres.standbyOf(primary);
    expect(await eventually(async () => (await count('model_versions')) === 1)).toBe(true);
    s = await startTestServer({
      db: { kind: 'postgres', url: standby.url },
      dataDir,
      env: { WEBHOOK_TICK_MS: '200' },
      log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l)) }),
    });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    standby?.destroy();
    primary?.destroy();
  });

  it('starts and scores on the standby; changes are 503 naming the standby; /health, /readyz and the background jobs say what it is, in the same words', async () => {
    await s.pool.refresh(true);
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/infer', { model: 'hotel', payload: row, event_id: `sb-${i}` })).status).toBe(200);
    await s.audit.flush();
    const key = await call('POST', '/v1/keys', { name: 'during', scopes: ['infer'] });
    expect([key.status, key.body.error?.code, key.body.error?.message]).toEqual([503, 'UNAVAILABLE', expect.stringMatching(STANDBY)]);
    const health = (await call('GET', '/health')).body;
    expect(health).toMatchObject({ status: 'degraded', audit: { written: false, error: expect.stringMatching(STANDBY) } });
    // What a request's refusal ends with is not said of records that wait on disk.
    expect(health.audit.error).not.toMatch(/change was not made/);
    expect((await call('GET', '/readyz')).body.warnings).toEqual([expect.stringMatching(/^the database refuses audit records since .*\(the PostgreSQL server takes no writes .*standby/)]);
    // The webhook worker's tick (its lease is a write) fails the same way, and says it in the same words.
    expect(await eventually(async () => logged.some((l) => l.msg.startsWith('webhook delivery tick failed')))).toBe(true);
    expect(logged.find((l) => l.msg.startsWith('webhook delivery tick failed'))!.err).toMatch(STANDBY);
    expect(logged.filter((l) => l.msg === 'the database refuses audit records; spilling them to disk until it is back').map((l) => l.err)).toEqual([expect.stringMatching(STANDBY)]);
    // The CLI against the standby: the same refusal, exit 1.
    const cli = await runCli(['promote', '--model', 'hotel', '--version', '1', '--to', 'archived'], { ...s.env, DATABASE_URL: standby.url });
    expect([cli.code, cli.stderr]).toEqual([1, expect.stringMatching(/takes no writes \(25006: .*\): DATABASE_URL leads to a standby/)]);
  }, 60_000);

  it('the standby promoted (the failover over): changes succeed without a restart, and the spilled audit records are written', async () => {
    primary.stop();
    standby.promote();
    expect(await eventually(async () => (await call('POST', '/v1/keys', { name: `after-${Date.now()}`, scopes: ['infer'] })).status === 201)).toBe(true);
    // Replayed from the spill files once a write is taken (the flush loop's idle probe, or the next record).
    expect((await call('POST', '/v1/infer', { model: 'hotel', payload: row, event_id: 'sb-after' })).status).toBe(200);
    await s.audit.flush();
    expect(await eventually(async () => (await count("predictions where event_id like 'sb-%'")) === 4)).toBe(true);
    expect(await eventually(async () => (await call('GET', '/health')).body.status === 'healthy')).toBe(true);
  }, 60_000);
});
