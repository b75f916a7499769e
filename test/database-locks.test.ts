import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { PG_URL, randomId } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

// Another program holding the SQLite file's write lock — a CLI command mid-import, a `sqlite3`
// shell in a transaction, a backup tool — used to stop the whole server: the request thread's
// writes waited inside SQLite, on the event loop, for up to 5 s each (a webhook tick every
// second was enough). Now such a write waits off the loop and every other request goes on.
describe('a server whose SQLite file another program has locked', () => {
  let s: TestServer;
  let other: SQLite.Database;
  const row = rowPayload(demoModel().holdout.data, 0);

  beforeAll(async () => {
    s = await startTestServer({ dialect: 'sqlite', jobs: false });
    await serveDemo(s);
    other = new SQLite((s.db as { file: string }).file, { timeout: 0 });
  });
  afterAll(async () => {
    if (other.inTransaction) other.exec('rollback');
    other.close();
    await s?.stop();
  });

  const call = (method: 'GET' | 'POST', url: string, body?: unknown) =>
    s.app.inject({ method, url, headers: { ...s.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });

  it('keeps scoring and reading while an admin write waits for the lock, and the write lands once it is released', async () => {
    other.exec('begin immediate');
    let settled = false;
    const created = call('POST', '/v1/keys', { name: 'while-locked', scopes: ['infer'] }).finally(() => (settled = true));
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await call('POST', '/v1/infer', { model: 'hotel', payload: row }));
    expect(answers.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
    expect((await call('GET', '/healthz')).statusCode).toBe(200);
    // Reads of the registry do not queue behind the waiting write on the one connection.
    const models = await call('GET', '/v1/models');
    expect(models.statusCode).toBe(200);
    expect((models.json() as { models: { name: string }[] }).models.map((m) => m.name)).toEqual(['hotel']);
    // Had the key's insert waited on the event loop, it would have failed (503) before the first answer.
    expect(settled).toBe(false);
    other.exec('commit');
    const res = await created;
    expect(res.statusCode, res.body).toBe(201);
    expect(other.prepare('select name from api_keys where name = ?').get('while-locked')).toEqual({ name: 'while-locked' });
  });
});

// A DBA's lock_timeout (here in the URL; often on the role) ends a wait for another session's
// lock with 55P03, which was an internal error over HTTP and a bare "canceling statement due to
// lock timeout" in the CLI.
describe('a PostgreSQL server whose lock_timeout ends a wait for another session', () => {
  let s: TestServer;
  let other: pg.Client;
  const schema = randomId('mg');
  const url = `${PG_URL}?options=-c%20lock_timeout%3D200ms`;

  beforeAll(async () => {
    s = await startTestServer({ dialect: 'postgres', db: { kind: 'postgres', url, schema }, jobs: false });
    await serveDemo(s);
    other = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await other.connect();
  });
  afterAll(async () => {
    await other?.query('rollback').catch(() => undefined);
    await other?.end();
    await s?.stop();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  });

  const createKey = (name: string) =>
    s.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name, scopes: ['infer'] }) });

  it('answers 503 naming the held lock and what to do, the CLI exits 1 saying the same, and both work once it is released', async () => {
    await other.query('begin');
    // What a migration, or a psql session that ran one statement too many, holds.
    await other.query('lock table api_keys in exclusive mode');
    const res = await createKey('while-locked');
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(
        /^another session holds a lock this needs, and the PostgreSQL server's lock_timeout ended the wait \(55P03: canceling statement due to lock timeout\): a transaction left open .*; retry once it ends; nothing was changed$/,
      ),
    });
    const env = { DATABASE_URL: `${PG_URL}?options=-c%20lock_timeout%3D200ms%20-c%20search_path%3D${schema}`, MODELGATE_ADMIN_TOKEN: TOKEN, MODELGATE_DATA_DIR: s.dataDir };
    const cli = await runCli(['keys', 'create', '--name', 'cli-while-locked', '--scopes', 'read'], env, { timeoutMs: 60_000 });
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toContain("another session holds a lock this needs, and the PostgreSQL server's lock_timeout ended the wait (55P03: canceling statement due to lock timeout)");
    await other.query('rollback');
    const after = await createKey('after-release');
    expect(after.statusCode, after.body).toBe(201);
    expect((await runCli(['keys', 'create', '--name', 'cli-after-release', '--scopes', 'read'], env, { timeoutMs: 60_000 })).code).toBe(0);
  });
});
