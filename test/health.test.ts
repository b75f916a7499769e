import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
