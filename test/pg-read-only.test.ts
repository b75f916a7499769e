import { sql as kyselySql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, randomId, type DbLocation } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';
import { rowPayload } from '../src/training/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * After a failover the old primary can come back as a standby that takes connections but no
 * writes. Simulated on the shared server for a role of this test's own: `default_transaction_read_only`
 * set on the role makes every connection it opens from then on refuse writes (SQLSTATE 25006),
 * exactly as a standby does, and unsetting it is the writer coming back. Connections opened
 * meanwhile keep refusing for as long as they live, as pooled connections to a standby do.
 */
describe('a PostgreSQL server that takes no writes (a standby after a failover)', () => {
  const role = randomId('ro');
  const schema = randomId('mg');
  const url = new URL(PG_URL);
  url.username = role;
  const loc: DbLocation = { kind: 'postgres', url: url.toString(), schema, poolMax: 3 };
  let admin: pg.Client;
  let s: TestServer;
  const sql = (text: string) => admin.query(text);
  const readOnly = async (on: boolean) => {
    await sql(`alter role ${role} ${on ? 'set default_transaction_read_only = on' : 'reset default_transaction_read_only'}`);
  };
  const dropConnections = () => sql(`select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}'`);
  const health = async () => (await s.app.inject({ method: 'GET', url: '/health' })).json();
  const scoreAndFlush = async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/infer',
      headers: { ...s.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demoModel().holdout.data, 0) }),
    });
    expect(res.statusCode, res.body).toBe(200);
    await s.audit.flush();
  };
  const createKey = (name: string) =>
    s.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name, scopes: ['infer'] }) });

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await sql(`create role ${role} login`);
    await sql(`grant create on database ${url.pathname.slice(1)} to ${role}`);
    await sql(`create schema ${schema} authorization ${role}`);
    s = await startTestServer({ db: loc });
    await s.ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(async () => {
    await s?.stop();
    await dropConnections();
    await sql(`drop schema if exists ${schema} cascade`);
    await sql(`revoke create on database ${url.pathname.slice(1)} from ${role}`);
    await sql(`drop role if exists ${role}`);
    await admin.end();
  });

  it('a change is a 503 naming the standby and what to point DATABASE_URL at, not an internal error', async () => {
    await readOnly(true);
    await dropConnections();
    // The pool finds its connections dropped (each one a connection error) and opens new ones, read-only now.
    for (let i = 0; i < 4; i++) await kyselySql`select 1`.execute(s.ctx.db.kysely).catch(() => undefined);
    const res = await createKey('during');
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/^the PostgreSQL server takes no writes \(25006: cannot execute (INSERT|UPDATE) in a read-only transaction\): .*standby.*primary.*the change was not made$/),
    });
    // Scoring goes on; its audit records wait on disk, and /health says so (it said nothing of the
    // audit log before. Not "healthy": a registry poll that met a connection dropped above reads
    // the registry as unreachable until its next poll, which a loaded machine can make land here).
    expect((await health()).audit).toBeUndefined();
    await scoreAndFlush();
    expect(await health()).toMatchObject({ status: 'degraded', audit: { written: false, since: expect.any(String), error: expect.stringMatching(/read-only transaction/) } });
  });

  it('once the primary is back, the connections opened meanwhile are not kept: changes succeed again', async () => {
    // Every pooled connection (3 at most) was opened while the role was read-only, and still is.
    await Promise.all([1, 2, 3].map(() => kyselySql`select pg_sleep(0.2)`.execute(s.ctx.db.kysely)));
    await readOnly(false);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await createKey(`after-${i}`);
      statuses.push(r.statusCode);
    }
    // Each connection that refuses a write is closed on release, so at most one refusal each.
    expect(statuses.filter((c) => c === 503).length).toBeLessThanOrEqual(3);
    expect(statuses.slice(-4)).toEqual([201, 201, 201, 201]);
    await scoreAndFlush();
    await scoreAndFlush();
    const after = await health();
    expect(after.status, JSON.stringify(after)).toBe('healthy');
    expect(after.audit).toBeUndefined();
  });

  it('the CLI says the same and exits 1', async () => {
    await readOnly(true);
    try {
      const r = await runCli(['promote', '--model', 'hotel', '--version', '1', '--json'], s.env);
      expect(r.code, r.stderr).toBe(1);
      expect(r.json().error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/takes no writes \(25006: .*\): .*standby/) });
    } finally {
      await readOnly(false);
    }
  });
});
