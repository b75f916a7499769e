import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

/**
 * Compression: replies over 1 KB go out compressed to a client that asks (Prometheus scrapes,
 * batch replies, exports), bodies may come compressed; /v1/infer, the hot path, does neither.
 */
describe('compressed replies and bodies', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const instances = Array.from({ length: 50 }, (_, i) => rowPayload(demo.holdout.data, i));

  it('a batch reply, /metrics and the CSV export are gzipped for a client that asks, and read back the same', async () => {
    const plain = await s.app.inject({ method: 'POST', url: '/v1/models/hotel/predict', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ instances }) });
    expect(plain.headers['content-encoding']).toBeUndefined();
    const zipped = await s.app.inject({
      method: 'POST',
      url: '/v1/models/hotel/predict',
      headers: { ...s.auth, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      payload: JSON.stringify({ instances }),
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const body = JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8')) as { predictions: { score: number }[] };
    expect(body.predictions.map((p) => p.score)).toEqual((plain.json() as { predictions: { score: number }[] }).predictions.map((p) => p.score));
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);

    const metrics = await s.app.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
    expect(metrics.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(metrics.rawPayload).toString('utf8')).toMatch(/^# HELP /m);

    await s.audit.flush();
    const csv = await s.app.inject({ method: 'GET', url: '/v1/predictions.csv?model=hotel', headers: { ...s.auth, 'accept-encoding': 'gzip' } });
    expect(csv.headers['content-encoding']).toBe('gzip');
    const lines = gunzipSync(csv.rawPayload).toString('utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^id,at,model,version/);
    expect(lines).toHaveLength(101);
  });

  it('/v1/infer answers uncompressed and refuses a compressed body, saying so; other routes take one', async () => {
    const payload = JSON.stringify({ model: 'hotel', payload: instances[0] });
    const infer = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json', 'accept-encoding': 'gzip' }, payload });
    expect(infer.statusCode).toBe(200);
    expect(infer.headers['content-encoding']).toBeUndefined();
    const zippedInfer = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload: gzipSync(payload) });
    expect(zippedInfer.statusCode).toBe(415);
    expect(zippedInfer.json().error.message).toBe('Content-Encoding gzip is not supported on this route; send the JSON uncompressed');
    const batch = await s.app.inject({
      method: 'POST',
      url: '/v1/models/hotel/predict',
      headers: { ...s.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify({ instances })),
    });
    expect(batch.statusCode, batch.body).toBe(200);
    expect(batch.json().predictions).toHaveLength(50);
    const bad = await s.app.inject({
      method: 'POST',
      url: '/v1/models/hotel/predict',
      headers: { ...s.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: JSON.stringify({ instances }),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toBe('the body is not valid gzip data (incorrect header check), though Content-Encoding says so; send it as it says, or uncompressed');
  });
});
