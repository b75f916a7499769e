import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateHotelBookings, predictProba, rowPayload, trainLogisticRegression, transformRow } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { ManualTimers } from './helpers/manual-timers.js';

const v1 = demoModel();
const v2 = trainLogisticRegression(generateHotelBookings(3000, 99), { l2: 5 });

async function server(env: Record<string, string> = {}, clock?: ManualTimers): Promise<TestServer> {
  const s = await startTestServer({ env, clock });
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

  it('a row is cached the second time it is scored and served from the cache after that, whatever the key order', async () => {
    const row = rowPayload(v1.holdout.data, 3);
    const first = await infer(row);
    expect(first).toMatchObject({ cached: false, version: 1 });
    expect(Math.abs(first.score - v1.holdout.scores[3])).toBeLessThan(1e-5);
    // Seen once: only the doorkeeper remembers it, so the second request runs the model too.
    const reordered = Object.fromEntries(Object.entries(row).reverse());
    expect(await infer(reordered)).toMatchObject({ cached: false, score: first.score });
    const third = await infer(reordered);
    expect(third).toMatchObject({ cached: true, score: first.score, decision: first.decision, version: 1 });
    expect(third.prediction_id).not.toBe(first.prediction_id);
    const other = { ...row, lead_time: Number(row.lead_time) + 1 };
    expect((await infer(other)).cached).toBe(false);
    expect((await infer(other)).cached).toBe(false);
  });

  it('never serves a result across versions: pinned, then after a promotion', async () => {
    const row = rowPayload(v1.holdout.data, 5);
    await infer(row);
    await infer(row);
    expect(await infer(row)).toMatchObject({ cached: true, version: 1 });
    // Version 2 has seen nothing: its doorkeeper and entries are its own.
    const pinned = await infer(row, { version: 2 });
    expect(pinned).toMatchObject({ cached: false, version: 2 });
    // Independent check: version 2's own in-memory model on the same features.
    const expected2 = predictProba(v2.model, transformRow(v2.preprocessor, v1.holdout.data, 5));
    expect(Math.abs(pinned.score - expected2)).toBeLessThan(1e-5);
    expect(await infer(row, { version: 2 })).toMatchObject({ cached: false, score: pinned.score });
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
    for (const i of [1, 3]) for (let n = 0; n < 2; n++) await infer(rows[i]);
    const out = await post('/v1/models/hotel/predict', { instances: rows });
    expect(out.predictions.map((p: { cached: boolean }) => p.cached)).toEqual([false, true, false, true]);
    out.predictions.forEach((p: { score: number }, i: number) => expect(Math.abs(p.score - v1.holdout.scores[10 + i])).toBeLessThan(1e-5));
  });

  it('counts hits and misses in /metrics', async () => {
    const body = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    const hits = Number(/modelgate_cache_hits_total\{model="hotel"\} (\d+)/.exec(body)?.[1]);
    const misses = Number(/modelgate_cache_misses_total\{model="hotel"\} (\d+)/.exec(body)?.[1]);
    // Hits in the tests above: 1 (third reordered request) + 3 (v1's third, v2's third, v1 again) + 2 (batch) = 6.
    expect(hits).toBe(6);
    // Misses: 4 in the first test, 5 in the second (v1 twice, v2 twice, the promoted row), 4 + 2 in the batch test.
    expect(misses).toBe(15);
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

  const inferWith = (s: TestServer) => async (i: number) =>
    (
      await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'hotel', payload: rowPayload(v1.holdout.data, i) }),
      })
    ).json().cached as boolean;

  it('entries expire after CACHE_TTL_MS and the size stays within CACHE_MAX_ITEMS', async () => {
    const clock = new ManualTimers();
    const s = await server({ CACHE_TTL_MS: '150', CACHE_MAX_ITEMS: '3' }, clock);
    const infer = inferWith(s);
    try {
      expect([await infer(1), await infer(1), await infer(1)]).toEqual([false, false, true]);
      await clock.advance(149);
      expect(await infer(1)).toBe(true);
      await clock.advance(2);
      expect(await infer(1)).toBe(false);
      expect(await infer(1)).toBe(true);
      for (const i of [2, 3, 4]) for (let n = 0; n < 3; n++) await infer(i);
      // Four distinct rows through a 3-entry cache: the least recently used (row 1) is gone.
      expect(await infer(1)).toBe(false);
      expect(await infer(4)).toBe(true);
    } finally {
      await s.stop();
    }
  });

  it('rows seen once do not push out a row that repeats (admit second); with CACHE_ADMIT=first they do', async () => {
    for (const [admit, afterScan] of [
      ['second', true],
      ['first', false],
    ] as const) {
      const s = await server({ CACHE_MAX_ITEMS: '5', CACHE_ADMIT: admit });
      const infer = inferWith(s);
      try {
        expect(await infer(0)).toBe(false);
        // admit=first stores the row at its first scoring; second, at its second.
        expect(await infer(0)).toBe(admit === 'first');
        expect(await infer(0)).toBe(true);
        // A scan: 30 distinct rows, each once, through a 5-entry cache.
        for (let i = 100; i < 130; i++) expect(await infer(i)).toBe(false);
        expect(await infer(0)).toBe(afterScan);
      } finally {
        await s.stop();
      }
    }
  });
});

describe('timers on the request path', () => {
  it('requests answered from the API key cache and the prediction cache make no timer', async () => {
    // Default CACHE_TTL_MS, so both caches track entry ages. lru-cache's default keeps the time
    // it read and sets a 1-ms timer to forget it: about one timer made and fired a millisecond
    // on a busy server.
    const s = await server();
    try {
      const { token } = await s.ctx.access.create({ name: 'timers', scopes: ['infer'], actor: 't' });
      const body = JSON.stringify({ model: 'hotel', payload: rowPayload(v1.holdout.data, 7) });
      const infer = async () => {
        const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: body });
        expect(res.statusCode, res.body).toBe(200);
        return res.json() as { cached: boolean };
      };
      for (let i = 0; i < 3; i++) await infer();
      const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
      try {
        for (let i = 0; i < 10; i++) {
          // Past a millisecond, and a turn for due timers to run, so a kept time would be forgotten.
          const until = performance.now() + 2;
          while (performance.now() < until);
          await new Promise((r) => setImmediate(r));
          await new Promise((r) => setImmediate(r));
          expect((await infer()).cached).toBe(true);
        }
        const shortTimers = setTimeoutSpy.mock.calls.filter((c) => typeof c[1] === 'number' && c[1] <= 1);
        expect(shortTimers).toHaveLength(0);
      } finally {
        setTimeoutSpy.mockRestore();
      }
    } finally {
      await s.stop();
    }
  });
});
