import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';
import { DIALECTS, dropDb, freshDb } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Alias changes while a canary runs, in the order operators' runbooks take them. The
 * rollout and the aliases must never disagree about which version is production.
 */
describe.each(DIALECTS)('canary and alias changes on %s', (dialect) => {
  let s: TestServer;
  const v1 = demoModel();
  const v2 = trainLogisticRegression(generateHotelBookings(3000, 77), { l2: 3 });
  const data = v1.holdout.data;

  beforeAll(async () => {
    s = await startTestServer({ dialect, jobs: false });
    for (const onnx of [v1.onnx, v2.onnx, v2.onnx]) await s.ctx.registry.register({ model: 'hotel', onnx, actor: 't' });
  });
  afterAll(() => s?.stop());

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown) => s.app.inject({ method, url, headers: s.auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const post = async (url: string, payload: unknown = {}) => {
    const res = await call('POST', url, payload);
    return { status: res.statusCode, body: res.json() };
  };
  const get = async (url: string) => (await call('GET', url)).json();
  const servedVersions = async (n: number) => {
    await s.pool.refresh(true);
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => call('POST', '/v1/infer', { model: 'hotel', routing_key: `guest-${i}`, payload: rowPayload(data, i % data.rows) })));
    return new Set(replies.map((r) => `${r.json().arm}:v${r.json().version}`));
  };
  const reset = async () => {
    await post('/v1/canary/hotel/stop');
    for (const v of [1, 2, 3]) await post('/v1/models/hotel/promote', { version: v, target: 'active' });
    expect((await post('/v1/models/hotel/promote', { version: 1 })).status).toBe(200);
  };

  it("the runbook's order: canary 10 → 25 → 50 → 100 %, promote it, stop the canary, archive the old version", async () => {
    await reset();
    const rollbacksBefore = (await get('/v1/rollbacks?model=hotel')).total;
    expect((await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 10 })).status).toBe(200);
    for (const p of [25, 50, 100]) {
      const step = await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: p });
      expect(step.status, JSON.stringify(step.body)).toBe(200);
      expect(step.body).toMatchObject({ canary_version: 2, production_version: 1, canary_percent: p });
    }
    const promoted = await post('/v1/models/hotel/promote', { version: 2 });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    expect(promoted.body).toMatchObject({ alias: 'production', version: 2, previous_version: 1 });
    // Promoting the canary's own version completed the canary, exactly as canary promote does.
    const status = await get('/v1/canary/hotel');
    expect(status).toMatchObject({ production_version: 2, canary_version: null, canary_percent: 0 });
    const events = (await get('/v1/canary/hotel/events?limit=1')).events;
    expect(events[0]).toMatchObject({ event: 'promote', canary_version: 2, production_version: 1 });

    const stopped = await post('/v1/canary/hotel/stop');
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ stopped: false, canary_version: null, production_version: 2 });
    const archived = await post('/v1/models/hotel/promote', { version: 1, target: 'archived' });
    expect(archived.status, JSON.stringify(archived.body)).toBe(200);

    const model = await get('/v1/models/hotel');
    expect(model.aliases.production).toBe(2);
    expect(model.versions.find((v: { version: number }) => v.version === 1).status).toBe('archived');
    expect((await get('/v1/rollbacks?model=hotel')).total).toBe(rollbacksBefore);
    expect([...(await servedVersions(200))]).toEqual(['production:v2']);
  });

  it('promoting another version, rolling back or activating a slot during a canary is refused with CANARY_RUNNING', async () => {
    await reset();
    await post('/v1/models/hotel/promote', { version: 3, target: 'blue' });
    expect((await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50 })).status).toBe(200);
    const refused = [
      await post('/v1/models/hotel/promote', { version: 3 }),
      await post('/v1/models/hotel/rollback'),
      await post('/v1/models/hotel/promote', { target: 'blue', activate: true }),
      await post('/v1/models/hotel/promote', { version: 2, target: 'archived' }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('CANARY_RUNNING');
      expect(r.body.error.message).toMatch(/version 2 at 50% against production version 1/);
      expect(r.body.error.message).toMatch(/canary stop --model hotel.*canary promote --model hotel.*--force/);
      expect(r.body.error.details.canary).toMatchObject({ canary_version: 2, production_version: 1 });
    }
    // Nothing moved: the canary still runs against the version production serves.
    expect((await get('/v1/models/hotel')).aliases).toMatchObject({ production: 1, blue: 3 });
    expect(await get('/v1/canary/hotel')).toMatchObject({ production_version: 1, canary_version: 2, canary_percent: 50 });
    expect(await servedVersions(200)).toEqual(new Set(['production:v1', 'canary:v2']));
    // A slot the canary does not compete for moves freely.
    expect((await post('/v1/models/hotel/promote', { version: 1, target: 'green' })).status).toBe(200);
  });

  it('force stops the canary first and records who and why; traffic then follows the new production', async () => {
    await reset();
    expect((await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 30 })).status).toBe(200);
    const forced = await post('/v1/models/hotel/promote', { version: 3, force: true, reason: 'hotfix for INC-42' });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body).toMatchObject({ version: 3, previous_version: 1 });
    const rb = (await get('/v1/rollbacks?model=hotel&limit=1')).rollbacks[0];
    expect(rb).toMatchObject({ canary_version: 2, production_version: 1, rolled_back_by: 'admin-token' });
    expect(rb.reason).toBe('stopped by admin-token (forced) to promote version 3 to production: hotfix for INC-42');
    expect(await get('/v1/canary/hotel')).toMatchObject({ production_version: 3, canary_version: null });
    expect([...(await servedVersions(100))]).toEqual(['production:v3']);

    // Rollback with force, the same way.
    expect((await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 30 })).status).toBe(200);
    const back = await post('/v1/models/hotel/rollback', { force: true });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body).toMatchObject({ version: 1, rolled_back_from: 3 });
    expect((await get('/v1/rollbacks?model=hotel&limit=1')).rollbacks[0].reason).toBe('stopped by admin-token (forced) to roll production back to version 1');
    expect([...(await servedVersions(100))]).toEqual(['production:v1']);
    // total counts every matching row, not the page.
    const page = await get('/v1/rollbacks?model=hotel&limit=1');
    const all = await get('/v1/rollbacks?model=hotel&limit=1000');
    expect(page.rollbacks).toHaveLength(1);
    expect(all.rollbacks.length).toBeGreaterThanOrEqual(2);
    expect(page.total).toBe(all.rollbacks.length);
  });

  it('activating a slot that holds the canary version completes the canary', async () => {
    await reset();
    await post('/v1/models/hotel/promote', { version: 2, target: 'green' });
    expect((await post('/v1/canary', { model: 'hotel', canary_version: 'green', canary_percent: 20 })).status).toBe(200);
    const act = await post('/v1/models/hotel/promote', { target: 'green', activate: true });
    expect(act.status, JSON.stringify(act.body)).toBe(200);
    expect(await get('/v1/canary/hotel')).toMatchObject({ production_version: 2, canary_version: null });
    expect((await get('/v1/canary/hotel/events?limit=1')).events[0]).toMatchObject({ event: 'promote', details: { via: 'activate' } });
  });

  it('GET a version by alias or slot name', async () => {
    await reset();
    await post('/v1/models/hotel/promote', { version: 3, target: 'blue' });
    expect((await get('/v1/models/hotel/versions/production')).version).toBe(1);
    expect((await get('/v1/models/hotel/versions/blue')).version).toBe(3);
    const missing = await call('GET', '/v1/models/hotel/versions/purple');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toMatch(/no alias purple \(its aliases: .*production.*\); name a version instead, or promote one to purple/);
  });
});

/** Two replicas on one PostgreSQL schema changing the same canary at once. */
describe('concurrent alias changes during a canary, two replicas on PostgreSQL', () => {
  const db = freshDb('postgres');
  let a: TestServer;
  let b: TestServer;
  const v1 = demoModel();

  beforeAll(async () => {
    a = await startTestServer({ db, jobs: false });
    b = await startTestServer({ db, jobs: false, dataDir: a.dataDir });
    for (let i = 0; i < 3; i++) await a.ctx.registry.register({ model: 'hotel', onnx: v1.onnx, actor: 't' });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await dropDb(db);
  });

  const post = async (srv: TestServer, url: string, payload: unknown = {}) => {
    const res = await srv.app.inject({ method: 'POST', url, headers: srv.auth, payload: payload as object });
    return { status: res.statusCode, body: res.json() };
  };

  it('two canary promotions at once: exactly one wins, the other gets 409', async () => {
    for (let round = 0; round < 5; round++) {
      await post(a, '/v1/models/hotel/promote', { version: 1, force: true });
      expect((await post(a, '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 40 })).status).toBe(200);
      const [ra, rb] = await Promise.all([post(a, '/v1/canary/hotel/promote'), post(b, '/v1/canary/hotel/promote')]);
      expect([ra.status, rb.status].sort()).toEqual([200, 409]);
      const aliases = (await a.ctx.registry.getModel('hotel')).aliases;
      expect(aliases.production).toBe(2);
      expect(await a.ctx.rollouts.status('hotel')).toMatchObject({ canary_version: null, production_version: 2 });
    }
  });

  it('a forced promotion racing a canary promotion leaves aliases and rollout in agreement', async () => {
    for (let round = 0; round < 5; round++) {
      await post(a, '/v1/models/hotel/promote', { version: 1, force: true });
      expect((await post(a, '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 40 })).status).toBe(200);
      const [forced, promoted] = await Promise.all([post(a, '/v1/models/hotel/promote', { version: 3, force: true }), post(b, '/v1/canary/hotel/promote')]);
      expect(forced.status).toBe(200);
      const status = await b.ctx.rollouts.status('hotel');
      const aliases = (await b.ctx.registry.getModel('hotel')).aliases;
      expect(status.canary_version).toBeNull();
      // Either order ends on version 3 (a canary promotion that lost finds no canary: 409),
      // and the rollout never names another version than the alias.
      expect(aliases.production).toBe(3);
      expect(status.production_version).toBe(3);
      expect([200, 409]).toContain(promoted.status);
    }
  });
});
