import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

/**
 * Found by the fuzzer (test/fuzz.test.ts, seed 1451373300): values near ±1e38 in two numeric
 * features make the demo logistic regression compute NaN, which the reply serializer refused —
 * a 500. It is the input's doing: a 400 naming the row, on every route.
 */
describe('a row the model scores as NaN', () => {
  let s: TestServer;
  const demo = demoModel();
  const row = { ...rowPayload(demo.holdout.data, 0), required_car_parking_spaces: -8.993174275777304e37, is_repeated_guest: 6.224924783950623e37 };
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const post = (url: string, body: unknown) => s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  it('is a 400 naming the row on /v1/infer and /v1/models/:name/predict, and the OIP error on /v2', async () => {
    const one = await post('/v1/infer', { model: 'hotel', payload: row });
    expect(one.statusCode).toBe(400);
    expect(one.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^payload: model hotel version 1 scored this row as NaN/) } });
    const many = await post('/v1/models/hotel/predict', { instances: [rowPayload(demo.holdout.data, 1), row] });
    expect(many.statusCode).toBe(400);
    expect(many.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { field: 'instances[1]' } } });
    const oip = await post('/v2/models/hotel/infer', { inputs: Object.entries(row).map(([name, v]) => ({ name, datatype: typeof v === 'number' ? 'FP64' : 'BYTES', shape: [1], data: [v] })) });
    expect(oip.statusCode).toBe(400);
    expect(oip.json().error).toMatch(/scored this row as NaN/);
    // An ordinary row still scores.
    expect((await post('/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, 2) })).statusCode).toBe(200);
  });
});
