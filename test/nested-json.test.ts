import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestedPath, parseJsonBody } from '../src/lib/json-text.js';
import { rowPayload } from '../src/training/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

/** `levels` arrays inside each other, written out by hand (JSON.stringify of such a value would itself overflow). */
const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

/** A /v1/infer body whose row has an unknown field `meta` nested so that the body reaches `levels` in all (body 1, payload 2, meta 3…). */
function inferBody(levels: number, eventId: string): string {
  const row = JSON.stringify(rowPayload(demoModel().holdout.data, 0));
  return `{"model":"hotel","event_id":"${eventId}","payload":${row.slice(0, -1)},"meta":${nested(levels - 2)}}}`;
}

describe('JSON nesting: counted by levels of the value, not by brackets in the text', () => {
  it('a body nested exactly MAX_JSON_DEPTH levels is taken, one level more is refused naming where', () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(parseJsonBody(inferBody(64, 'a'))).toHaveProperty('payload.meta');
    expect(() => parseJsonBody(inferBody(65, 'a'))).toThrow(/^the JSON body nests arrays and objects more than 64 levels deep \(in payload\.meta\[0\]…\)/);
  });

  it('brackets inside strings are not levels', () => {
    const text = JSON.stringify({ payload: { note: '[{'.repeat(500), other: ']}'.repeat(500) } });
    expect(parseJsonBody(text)).toEqual({ payload: { note: '[{'.repeat(500), other: ']}'.repeat(500) } });
  });

  it('many flat rows side by side are one level each (a batch of 5,000 instances)', () => {
    const text = JSON.stringify({ instances: Array.from({ length: 5000 }, (_, i) => ({ a: i, b: [i] })) });
    expect((parseJsonBody(text) as { instances: unknown[] }).instances).toHaveLength(5000);
  });

  it('nestedPath names the keys and array indexes down to the first value too deep', () => {
    expect(nestedPath({ a: 1, b: { c: [0, [1]] } }, 3)).toEqual(['b', 'c', 1]);
    expect(nestedPath({ a: 1, b: { c: [0, [1]] } }, 4)).toBeUndefined();
    expect(nestedPath([[]], 1)).toEqual([0]);
    expect(nestedPath('text', 0)).toBeUndefined();
  });
});

describe.each(DIALECTS)('deeply nested request bodies (%s)', (dialect) => {
  let s: TestServer;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  beforeAll(async () => {
    s = await startTestServer({ dialect, jobs: false });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const post = (url: string, payload: string) => s.app.inject({ method: 'POST', url, headers, payload });
  const newest = async () => {
    await s.audit.flush();
    return s.app.inject({ method: 'GET', url: '/v1/predictions?model=hotel&order=newest&limit=20', headers });
  };

  it('an unknown field 4,000 levels deep is refused with a 400 before scoring, and the audit log stays listable', async () => {
    // Before: scored and audited (its text was cut out of the body), then every listing of the
    // audit log that held it failed with a 500 (JSON.stringify of the features overflowed the stack).
    const r = await post('/v1/infer', inferBody(4000, 'deep-4000'));
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('BAD_REQUEST');
    expect(r.json().error.message).toMatch(/more than 64 levels deep \(in payload\.meta\[0\]…\); send each feature as a number, string, boolean or null$/);
    const listed = await newest();
    expect(listed.statusCode).toBe(200);
    expect((listed.json() as { predictions: { event_id: string | null }[] }).predictions.map((p) => p.event_id)).not.toContain('deep-4000');
  });

  it('an unknown field 20,000 levels deep (a body over the 64 KiB the audit log cuts features from) is a 400, not a 500', async () => {
    // Before: scored, then JSON.stringify of the payload for the audit record overflowed: a 500.
    const r = await post('/v1/infer', inferBody(20_000, 'deep-20000'));
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/more than 64 levels deep/);
  });

  it('a body of exactly 64 levels is scored, audited and listed with its features as sent', async () => {
    const r = await post('/v1/infer', inferBody(64, 'deep-64'));
    expect(r.statusCode).toBe(200);
    expect(r.json().warnings.join(' ')).toMatch(/meta/);
    const listed = await newest();
    expect(listed.statusCode).toBe(200);
    const mine = (listed.json() as { predictions: { event_id: string | null; features: Record<string, unknown> }[] }).predictions.find((p) => p.event_id === 'deep-64');
    expect(mine?.features.meta).toEqual(JSON.parse(nested(62)));
  });

  it('batch predict and the Open Inference Protocol refuse a body nested too deep, each in its own error shape', async () => {
    const row = JSON.stringify(rowPayload(demoModel().holdout.data, 1));
    const batch = await post('/v1/models/hotel/predict', `{"instances":[${row.slice(0, -1)},"meta":${nested(200)}}]}`);
    expect(batch.statusCode).toBe(400);
    expect(batch.json().error.message).toMatch(/more than 64 levels deep \(in instances\[0\]\.meta…\)/);
    const oip = await post('/v2/models/hotel/infer', `{"inputs":[{"name":"lead_time","datatype":"FP32","shape":[1],"data":[1]}],"parameters":{"x":${nested(100)}}}`);
    expect(oip.statusCode).toBe(400);
    expect(oip.json().error).toMatch(/more than 64 levels deep \(in parameters\.x\[0\]…\)/);
  });
});
