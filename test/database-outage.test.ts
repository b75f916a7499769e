import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, type TestServer } from './helpers/server.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

/**
 * A running server whose PostgreSQL goes away (a throwaway instance of this test's own): the
 * routes that need the database say so with a 503 a client can retry, not an internal error;
 * /health and /readyz say the registry cannot be read while inference goes on; all of it clears
 * once the database is back.
 */
describe('the database lost while serving', () => {
  let pg: ThrowawayPostgres;
  let s: TestServer;
  const row = rowPayload(demoModel().holdout.data, 0);

  beforeAll(async () => {
    pg = await ThrowawayPostgres.create();
    s = await startTestServer({ db: { kind: 'postgres', url: pg.url }, jobs: false });
    await serveDemo(s);
  }, 60_000);
  let down = false;
  afterAll(async () => {
    // A failure mid-outage leaves it stopped; the server's shutdown wants it back.
    if (down) pg.start();
    await s?.stop();
    pg?.destroy();
  });

  const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const r = await s.app.inject({ method, url, headers: { ...s.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    return { status: r.statusCode, body: r.json(), retryAfter: r.headers['retry-after'] };
  };

  it('503 UNAVAILABLE from the routes that need it, inference on, /health and /readyz say why; all clear once it is back', async () => {
    expect((await call('GET', '/health')).body).toMatchObject({ status: 'healthy' });
    pg.stop();
    down = true;
    // The registry poll notices (the server's own poller does the same within RELOAD_INTERVAL_MS).
    await expect(s.pool.refresh(true)).rejects.toThrow();

    for (const [method, url, body] of [
      ['GET', '/v1/models'],
      ['POST', '/v1/models/hotel/promote', { version: 1 }],
      ['POST', '/v1/keys', { name: 'during-outage', scopes: ['infer'] }],
      ['GET', '/v1/predictions?limit=1'],
    ] as ['GET' | 'POST', string, unknown?][]) {
      const r = await call(method, url, body);
      expect(r.status, `${method} ${url}`).toBe(503);
      expect(r.body.error.code).toBe('UNAVAILABLE');
      expect(r.body.error.message).toMatch(/^the database is unavailable \(.+\); retry shortly/);
      // How long "shortly" is, for clients and proxies that honour it.
      expect(r.retryAfter, `${method} ${url}`).toBe('1');
    }
    // What is loaded keeps serving.
    expect((await call('POST', '/v1/infer', { model: 'hotel', payload: row })).status).toBe(200);
    const health = (await call('GET', '/health')).body;
    expect(health).toMatchObject({ status: 'degraded', model_loaded: true, registry: { reachable: false, since: expect.any(String), error: expect.any(String) } });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.warnings.join('\n')).toMatch(/^the registry's database cannot be read since \S+ \(.+\); serving the models as last loaded$/);

    pg.start();
    down = false;
    await s.pool.refresh(true);
    expect((await call('GET', '/health')).body).toEqual(expect.objectContaining({ status: 'healthy' }));
    expect((await call('GET', '/health')).body.registry).toBeUndefined();
    expect((await call('GET', '/readyz')).body).toEqual({ ready: true });
    expect((await call('GET', '/v1/models')).status).toBe(200);
  }, 120_000);
});
