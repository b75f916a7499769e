import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { randomId } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

/**
 * The PostgreSQL server's disk full, for real: a throwaway server whose tables live in a 4 MiB
 * tablespace on a tmpfs (its WAL on a roomy disk, so the server itself keeps running). A change
 * that needs a new page fails with disk_full (53100); it was an internal error over HTTP and
 * PostgreSQL's bare words in the CLI.
 */
describe("the PostgreSQL server's disk full", () => {
  let pg: ThrowawayPostgres;
  let s: TestServer;
  beforeAll(async () => {
    pg = await ThrowawayPostgres.create(undefined, { smallTablespace: '4m' });
    s = await startTestServer({ db: { kind: 'postgres', url: pg.url, schema: randomId('mg') } });
    await s.ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    pg?.destroy();
  });

  it('a change is 503 naming the server disk, over HTTP and in the CLI, and is taken once space is freed', async () => {
    pg.fillSmall(true);
    const FULL = /^the PostgreSQL server's disk is full \(53100: could not extend file "[^"]+": No space left on device\): free space on its data volume, then retry; the change was not made$/;
    const create = (name: string) =>
      s.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name, scopes: ['infer'] }) });
    const refused = await create('ops');
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: { code: 'UNAVAILABLE', details: { code: '53100' } } });
    expect(refused.json().error.message).toMatch(FULL);
    const cli = await runCli(['keys', 'create', '--name', 'ops', '--scopes', 'infer', '--json'], s.env);
    expect(cli.code).toBe(1);
    expect(cli.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect((cli.json() as { error: { message: string } }).error.message).toMatch(FULL);
    // A server starting on it with migrations to make (a new schema): the disk named, as a
    // refusal `serve` retries (UNAVAILABLE), not "migration … failed" that ends it.
    await expect(startTestServer({ db: { kind: 'postgres', url: pg.url, schema: randomId('mg') } })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/^the PostgreSQL server's disk is full \(53100: (migration \S+ failed: )?could not extend file "[^"]+": No space left on device\): free space on its data volume/),
    });
    pg.fillSmall(false);
    expect((await create('ops')).statusCode).toBe(201);
  }, 120_000);
});
