import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, predictProba, rowPayload, trainLogisticRegression, transformRow } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const v1 = demoModel();
const v2 = trainLogisticRegression(generateHotelBookings(3000, 99), { l2: 5 });

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startTestServer({ env });
  await s.ctx.registry.register({ model: 'hotel', onnx: v1.onnx, actor: 't' });
  await s.ctx.registry.register({ model: 'hotel', onnx: v2.onnx, actor: 't' });
  await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  await s.pool.refresh(true);
  return s;
}

describe('prediction cache', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await server({ CACHE_TTL_MS: '0' });
  });
  afterAll(() => s?.stop());

  const post = async (url: string, body: unknown) => {
    const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const infer = (payload: Record<string, unknown>, extra: Record<string, unknown> = {}) => post('/v1/infer', { model: 'hotel', payload, ...extra });

  it('the same features again are served from the cache, whatever their key order', async () => {
    const row = rowPayload(v1.holdout.data, 3);
    const first = await infer(row);
    expect(first).toMatchObject({ cached: false, version: 1 });
    expect(Math.abs(first.score - v1.holdout.scores[3])).toBeLessThan(1e-5);
    const again = await infer(Object.fromEntries(Object.entries(row).reverse()));
    expect(again).toMatchObject({ cached: true, score: first.score, decision: first.decision, version: 1 });
    expect(again.prediction_id).not.toBe(first.prediction_id);
    const other = await infer({ ...row, lead_time: Number(row.lead_time) + 1 });
    expect(other.cached).toBe(false);
  });

  it('never serves a result across versions: pinned, then after a promotion', async () => {
    const row = rowPayload(v1.holdout.data, 5);
    await infer(row);
    const pinned = await infer(row, { version: 2 });
    expect(pinned).toMatchObject({ cached: false, version: 2 });
    // Independent check: version 2's own in-memory model on the same features.
    const expected2 = predictProba(v2.model, transformRow(v2.preprocessor, v1.holdout.data, 5));
    expect(Math.abs(pinned.score - expected2)).toBeLessThan(1e-5);
    expect(await infer(row, { version: 2 })).toMatchObject({ cached: true, score: pinned.score });
    expect(await infer(row)).toMatchObject({ cached: true, version: 1, score: expect.closeTo(v1.holdout.scores[5], 5) });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 2, actor: 't' });
    await s.pool.refresh(true);
    const promoted = await infer(rowPayload(v1.holdout.data, 6));
    expect(promoted).toMatchObject({ cached: false, version: 2 });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  });

  it('batch predict scores only the rows the cache lacks, and says which were cached', async () => {
    const rows = [10, 11, 12, 13].map((i) => rowPayload(v1.holdout.data, i));
    await infer(rows[1]);
    await infer(rows[3]);
    const out = await post('/v1/models/hotel/predict', { instances: rows });
    expect(out.predictions.map((p: { cached: boolean }) => p.cached)).toEqual([false, true, false, true]);
    out.predictions.forEach((p: { score: number }, i: number) => expect(Math.abs(p.score - v1.holdout.scores[10 + i])).toBeLessThan(1e-5));
  });

  it('counts hits and misses in /metrics', async () => {
    const body = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    const hits = Number(/modelgate_cache_hits_total\{model="hotel"\} (\d+)/.exec(body)?.[1]);
    const misses = Number(/modelgate_cache_misses_total\{model="hotel"\} (\d+)/.exec(body)?.[1]);
    // From the tests above: hits = 1 (reordered) + 2 (pinned v2 again, v1 again) + 2 (batch) = 5.
    expect(hits).toBe(5);
    expect(misses).toBeGreaterThanOrEqual(8);
  });
});

describe('prediction cache settings', () => {
  it('CACHE_MAX_ITEMS=0 turns it off', async () => {
    const s = await server({ CACHE_MAX_ITEMS: '0' });
    try {
      const row = rowPayload(v1.holdout.data, 1);
      for (let i = 0; i < 2; i++) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload: row }) });
        expect(r.json().cached).toBe(false);
      }
    } finally {
      await s.stop();
    }
  });

  it('entries expire after CACHE_TTL_MS and the size stays within CACHE_MAX_ITEMS', async () => {
    const s = await server({ CACHE_TTL_MS: '150', CACHE_MAX_ITEMS: '3' });
    const infer = async (i: number) =>
      (
        await s.app.inject({
          method: 'POST',
          url: '/v1/infer',
          headers: { ...s.auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ model: 'hotel', payload: rowPayload(v1.holdout.data, i) }),
        })
      ).json().cached as boolean;
    try {
      expect(await infer(1)).toBe(false);
      expect(await infer(1)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(await infer(1)).toBe(false);
      for (const i of [2, 3, 4]) await infer(i);
      // Four distinct rows through a 3-entry cache: the least recently used (row 1) is gone.
      expect(await infer(1)).toBe(false);
      expect(await infer(4)).toBe(true);
    } finally {
      await s.stop();
    }
  });
});
