import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, predictProba, rowPayload, trainLogisticRegression, transformRow } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { freshDb, dropDb } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two replicas sharing one PostgreSQL schema and one artifact directory. */
describe('lifecycle across replicas on PostgreSQL', () => {
  const db = freshDb('postgres');
  let a: TestServer;
  let b: TestServer;
  const v1 = demoModel();
  const v2 = trainLogisticRegression(generateHotelBookings(3000, 99), { l2: 5 });
  const row = rowPayload(v1.holdout.data, 3);

  beforeAll(async () => {
    a = await startTestServer({ db, listen: true, env: { RELOAD_INTERVAL_MS: '1000' } });
    b = await startTestServer({ db, dataDir: a.dataDir, listen: true, env: { RELOAD_INTERVAL_MS: '1000' } });
    await a.ctx.registry.register({ model: 'hotel', onnx: v1.onnx, actor: 't' });
    await a.ctx.registry.register({ model: 'hotel', onnx: v2.onnx, actor: 't' });
    await a.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await Promise.all([a.pool.refresh(true), b.pool.refresh(true)]);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dropDb(db);
  });

  const infer = async (s: TestServer) => {
    const res = await fetch(`${s.url}/v1/infer`, { method: 'POST', headers: { ...s.auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hotel', payload: row }) });
    return { status: res.status, body: (await res.json()) as { version: number; score: number } };
  };

  // How fast a change spreads is RELOAD_INTERVAL_MS's business (one poll); this checks that it does, without timing it.
  it('a change made by the CLI reaches a running replica', async () => {
    expect((await infer(b)).body.version).toBe(1);
    const r = await runCli(['promote', '--model', 'hotel', '--version', '2', '--json'], a.env);
    expect(r.code, r.stderr).toBe(0);
    const changedAt = Date.now();
    let seen = false;
    while (Date.now() - changedAt < 30_000) {
      const res = await infer(b);
      if (res.body.version === 2) {
        seen = true;
        const expected = predictProba(v2.model, transformRow(v2.preprocessor, v1.holdout.data, 3));
        expect(Math.abs(res.body.score - expected)).toBeLessThan(1e-5);
        break;
      }
      await sleep(50);
    }
    expect(seen, 'version 2 served by the other replica').toBe(true);
  });

  it('no request fails while versions are promoted and rolled back under load', async () => {
    let stop = false;
    const statuses = new Map<number, number>();
    const versions = new Set<number>();
    const worker = async (s: TestServer) => {
      while (!stop) {
        const res = await infer(s);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) versions.add(res.body.version);
      }
    };
    const workers = [a, b, a, b, a, b, a, b].map(worker);
    for (let i = 0; i < 6; i++) {
      const target = i % 2 === 0 ? 1 : 2;
      const via = i % 2 === 0 ? a : b;
      const res = await fetch(`${via.url}/v1/models/hotel/${i % 3 === 2 ? 'rollback' : 'promote'}`, {
        method: 'POST',
        headers: { ...via.auth, 'content-type': 'application/json' },
        body: JSON.stringify(i % 3 === 2 ? {} : { version: target }),
      });
      expect(res.status).toBe(200);
      await sleep(400);
    }
    stop = true;
    await Promise.all(workers);
    const total = [...statuses.values()].reduce((x, y) => x + y, 0);
    expect(total).toBeGreaterThan(200);
    expect(Object.fromEntries(statuses)).toEqual({ 200: total });
    expect([...versions].sort()).toEqual([1, 2]);
  });

  it('a corrupted artifact is refused at load, the previous version keeps serving, verify names it', async () => {
    const v3 = trainLogisticRegression(generateHotelBookings(3000, 5), { l2: 2 });
    const reg = await a.ctx.registry.register({ model: 'hotel', onnx: v3.onnx, actor: 't' });
    expect(reg.version).toBe(3);
    await a.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await Promise.all([a.pool.refresh(true), b.pool.refresh(true)]);
    // Flip bytes in the stored blob, as a bad disk or a tampering hand would.
    const file = path.join(a.dataDir, 'artifacts', 'sha256', reg.onnx_sha256.slice(0, 2), reg.onnx_sha256);
    const bytes = await readFile(file);
    bytes[bytes.length - 20] ^= 0x55;
    await writeFile(file, bytes);

    const promote = await fetch(`${a.url}/v1/models/hotel/promote`, { method: 'POST', headers: { ...a.auth, 'content-type': 'application/json' }, body: JSON.stringify({ version: 3 }) });
    expect(promote.status).toBe(200);
    await b.pool.refresh(true);
    for (const s of [a, b]) {
      const res = await infer(s);
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(1);
      const ready = (await (await fetch(`${s.url}/readyz`)).json()) as { ready: boolean; warnings: string[] };
      expect(ready.ready).toBe(true);
      expect(ready.warnings.join()).toMatch(/version 3 failed to load .*corrupt.*version 1 keeps serving/);
      const health = (await (await fetch(`${s.url}/health`)).json()) as { models: { error?: string }[] };
      expect(health.models[0].error).toMatch(/corrupt/);
    }
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/modelgate_model_load_failures_total\{model="hotel",version="3"\} [1-9]/);
    const pinned = await fetch(`${a.url}/v1/infer`, { method: 'POST', headers: { ...a.auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hotel', version: 3, payload: row }) });
    expect(pinned.status).toBe(500);
    expect(((await pinned.json()) as { error: { code: string } }).error.code).toBe('ARTIFACT_CORRUPT');

    const verify = await runCli(['verify', '--json'], a.env);
    expect(verify.code).toBe(1);
    const out = verify.json();
    expect(out).toMatchObject({ checked: 3, failed: 1 });
    expect(out.results.find((r: { ok: boolean }) => !r.ok)).toMatchObject({ model: 'hotel', version: 3 });
    const text = await runCli(['verify'], a.env);
    expect(text.stdout).toMatch(/hotel v3:\n\s+- onnx: artifact [0-9a-f]{64} at .* is corrupt/);
  });
});
