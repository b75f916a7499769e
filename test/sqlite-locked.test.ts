import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, type TestServer } from './helpers/server.js';

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
