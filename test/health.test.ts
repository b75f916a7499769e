import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterMember } from '../src/server/cluster-gather.js';
import { healthRoutes } from '../src/server/health.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** /health must not say healthy while a production model answers 503. */
describe('health with a production model that cannot load', () => {
  let s: TestServer;
  const demo = demoModel();
  // Another graph, so the two models do not share one content-addressed blob.
  const other = trainLogisticRegression(generateHotelBookings(3000, 5), { l2: 2 });

  beforeAll(async () => {
    const setup = await startTestServer({ jobs: false });
    for (const model of ['good', 'broken']) {
      await setup.ctx.registry.register({ model, onnx: model === 'good' ? demo.onnx : other.onnx, actor: 't' });
      await setup.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
    }
    const broken = await setup.ctx.registry.getVersion('broken', 1);
    const db = setup.db;
    const dataDir = setup.dataDir;
    await setup.close();
    // Flip a byte of the stored blob, as a bad disk would, then start the server that serves it.
    const file = path.join(dataDir, 'artifacts', 'sha256', broken.onnx_sha256.slice(0, 2), broken.onnx_sha256);
    const bytes = await readFile(file);
    bytes[bytes.length - 20] ^= 0x55;
    await writeFile(file, bytes);
    s = await startTestServer({ jobs: false, db, dataDir });
  });
  afterAll(() => s?.stop());

  it('says degraded and model_loaded false, naming the model, while its /v1/infer answers 503', async () => {
    const infer = async (model: string) => s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model, payload: rowPayload(demo.holdout.data, 0) } });
    expect((await infer('good')).statusCode).toBe(200);
    const refused = await infer('broken');
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error).toMatchObject({
      code: 'MODEL_NOT_AVAILABLE',
      message: expect.stringMatching(/^Model not available: production version 1 failed to load; the server log and GET \/health say why, and modelgate verify/),
    });
    const health = await s.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    const body = health.json();
    expect(body).toMatchObject({ status: 'degraded', model_loaded: false });
    expect(body.unavailable).toEqual([expect.objectContaining({ model: 'broken', production: 1, error: expect.stringMatching(/corrupt/) })]);
    expect(body.models.find((m: { model: string }) => m.model === 'good')).toMatchObject({ production: 1, serving: 1 });
    const ready = await s.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().reasons.join()).toMatch(/broken: production version 1 is not loaded/);
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

/** What the corrupt-artifact message advises: registering the same file again mends the stored copy. */
describe('registering the same graph again over a corrupt stored copy', () => {
  it('rewrites the copy, says so, and the version that shares it serves after the next refresh', async () => {
    const other = trainLogisticRegression(generateHotelBookings(3000, 7), { l2: 2 });
    const setup = await startTestServer({ jobs: false });
    await setup.ctx.registry.register({ model: 'mended', onnx: other.onnx, actor: 't' });
    await setup.ctx.registry.promote({ model: 'mended', target: 'production', version: 1, actor: 't' });
    const { onnx_sha256: sha } = await setup.ctx.registry.getVersion('mended', 1);
    const { db, dataDir } = setup;
    await setup.close();
    const file = path.join(dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    const bytes = await readFile(file);
    bytes[bytes.length - 20] ^= 0x55;
    await writeFile(file, bytes);
    const s = await startTestServer({ jobs: false, db, dataDir });
    try {
      const infer = () => s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'mended', payload: rowPayload(other.holdout.data, 0) } });
      expect((await infer()).statusCode).toBe(503);
      // Before: the store saw a blob under that sha256 and kept it; version 2 shared the damaged copy.
      const again = await s.ctx.registry.register({ model: 'mended', onnx: other.onnx, actor: 't' });
      expect(again).toMatchObject({ version: 2, onnx_sha256: sha, repaired_artifact: true });
      expect((await readFile(file)).equals(Buffer.from(other.onnx))).toBe(true);
      await s.pool.refresh(false);
      const served = await infer();
      expect(served.statusCode, served.body).toBe(200);
      expect(served.json()).toMatchObject({ version: 1 });
      // Registered once more, nothing is left to mend.
      expect(await s.ctx.registry.register({ model: 'mended', onnx: other.onnx, actor: 't' })).not.toHaveProperty('repaired_artifact');
    } finally {
      await s.stop();
    }
  });
});

/** A canary whose version cannot load serves nothing: /health must say so, and the pool must retry it. */
describe('health with a canary version that cannot load', () => {
  let s: TestServer;
  let t = Date.parse('2026-12-04T10:00:00Z');
  const clock = { now: () => new Date(t) };
  const demo = demoModel();
  const other = trainLogisticRegression(generateHotelBookings(3000, 6), { l2: 2 });
  let file = '';
  let intact: Buffer;

  beforeAll(async () => {
    const setup = await startTestServer({ jobs: false });
    await setup.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    const canary = await setup.ctx.registry.register({ model: 'hotel', onnx: other.onnx, actor: 't' });
    await setup.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    const db = setup.db;
    const dataDir = setup.dataDir;
    await setup.close();
    file = path.join(dataDir, 'artifacts', 'sha256', canary.onnx_sha256.slice(0, 2), canary.onnx_sha256);
    intact = await readFile(file);
    const bad = Buffer.from(intact);
    bad[bad.length - 20] ^= 0x55;
    await writeFile(file, bad);
    s = await startTestServer({ jobs: false, db, dataDir, clock });
  });
  afterAll(() => s?.stop());

  const arms = async () => {
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'hotel', routing_key: `guest-${i}`, payload: rowPayload(demo.holdout.data, i) } }),
      ),
    );
    return new Set(replies.map((r) => `${r.statusCode} ${r.json().arm}`));
  };
  const health = async () => (await s.app.inject({ method: 'GET', url: '/health' })).json();

  it('names the canary in /health while it gets no traffic, and loads it on a retry 30 s later without any registry change', async () => {
    const started = await s.app.inject({ method: 'POST', url: '/v1/canary', headers: s.auth, payload: { model: 'hotel', canary_version: 2, canary_percent: 50 } });
    expect(started.statusCode, started.body).toBe(200);
    // Whoever starts it over HTTP is told at once.
    expect(started.json().warnings).toEqual([
      expect.stringMatching(/^canary version 2 did not load on this server \(.*corrupt.*\): it gets no traffic here until it does; the server retries every 30 s/),
    ]);
    expect(await arms()).toEqual(new Set(['200 production']));
    let body = await health();
    expect(body).toMatchObject({ status: 'degraded', model_loaded: true });
    expect(body.rollouts_unavailable).toEqual([{ model: 'hotel', arm: 'canary', version: 2, error: expect.stringMatching(/corrupt/) }]);
    expect((await s.app.inject({ method: 'GET', url: '/v1/canary/hotel', headers: s.auth })).json().warnings).toHaveLength(1);
    // Readiness is production's: the replica still serves.
    expect((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    // The artifact store recovers (a restored file; an object store back after an outage).
    await writeFile(file, intact);
    await s.pool.refresh(false);
    expect((await health()).rollouts_unavailable).toHaveLength(1); // not before the 30-s backoff
    t += 30_001;
    await s.pool.refresh(false);
    body = await health();
    expect(body.status).toBe('healthy');
    expect(body.rollouts_unavailable).toBeUndefined();
    expect(await arms()).toEqual(new Set(['200 production', '200 canary']));
    expect((await s.app.inject({ method: 'GET', url: '/v1/canary/hotel', headers: s.auth })).json().warnings).toEqual([]);
  });
});

/** With WORKERS > 1 the route asks the primary for every worker's health; when that fails it still answers. */
describe('/health through a cluster member', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await s.ctx.registry.register({ model: 'churn', onnx: demoModel().onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'churn', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh();
  });
  afterAll(() => s?.stop());

  const healthThrough = async (member: ClusterMember) => {
    const app = Fastify();
    await app.register(healthRoutes, { pool: s.pool, draining: () => false, cluster: member });
    try {
      return (await app.inject({ method: 'GET', url: '/health' })).json();
    } finally {
      await app.close();
    }
  };

  it("merges the other workers' reports, serialised in full; answers for itself, degraded, when the primary does not answer", async () => {
    const answered: string[] = [];
    const merged = await healthThrough({
      answer: (name) => void answered.push(name),
      ask: async () => ({
        parts: [
          { pid: 101, value: { status: 'healthy', model_loaded: true, models: [] } },
          { pid: 102, value: { status: 'degraded', model_loaded: false, models: [], unavailable: [{ model: 'churn', production: 1, error: 'corrupt artifact' }] } },
        ],
        unanswered: [],
        starting: [],
      }),
    });
    expect(answered).toEqual(['health']);
    expect(merged).toEqual({
      status: 'degraded',
      model_loaded: false,
      models: [{ model: 'churn', production: 1, serving: 1 }],
      unavailable: [{ model: 'churn', production: 1, error: 'corrupt artifact' }],
      workers: [
        { pid: 101, status: 'healthy', model_loaded: true },
        { pid: 102, status: 'degraded', model_loaded: false, unavailable: [{ model: 'churn', production: 1, error: 'corrupt artifact' }] },
      ],
    });
    const alone = await healthThrough({ answer: () => undefined, ask: () => Promise.reject(new Error('the primary process did not answer within 10000 ms')) });
    expect(alone).toEqual({
      status: 'degraded',
      model_loaded: true,
      models: [{ model: 'churn', production: 1, serving: 1 }],
      workers_error: "the primary process did not answer within 10000 ms; this is one worker's health",
    });
  });
});
