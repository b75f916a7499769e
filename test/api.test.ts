import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoModel, fixture } from './helpers/fixtures.js';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';
import { rowPayload } from '../src/training/index.js';

describe('HTTP API', () => {
  let s: TestServer;
  const demo = demoModel();
  const row = rowPayload(demo.holdout.data, 0);

  beforeAll(async () => {
    s = await startTestServer({ env: { PREDICT_MAX_INSTANCES: '5', BODY_LIMIT_BYTES: '20000' } });
    await s.ctx.registry.register({
      model: 'hotel',
      onnx: demo.onnx,
      policy: {
        type: 'bands',
        bands: [
          { decision: 'allow', below: 0.3 },
          { decision: 'review', below: 0.6 },
          { decision: 'block', below: null },
        ],
      },
      actor: 't',
    });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.ctx.registry.register({ model: 'idle', onnx: demo.onnx, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  const inject = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    s.app.inject({
      method,
      url,
      headers: { ...s.auth, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });

  const expectError = (res: Awaited<ReturnType<typeof inject>>, status: number, code: string, field?: string) => {
    expect(res.statusCode, res.body).toBe(status);
    const b = res.json() as { error: { code: string; message: string; request_id: string; details?: { field?: string } } };
    expect(b.error.code).toBe(code);
    expect(b.error.request_id).toBe(res.headers['x-request-id']);
    expect(b.error.message.length).toBeGreaterThan(5);
    if (field) expect(b.error.message).toContain(field);
  };

  it('scores a row with the band policy and the in-memory model score', async () => {
    const res = await inject('POST', '/v1/infer', { product: 'hotel', payload: row, event_id: 'e1' });
    expect(res.statusCode).toBe(200);
    const b = res.json();
    expect(b).toMatchObject({ model: 'hotel', version: 1, event_id: 'e1', alias: 'production', arm: 'production' });
    expect(b.prediction_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(b.score - demo.holdout.scores[0])).toBeLessThan(1e-5);
    expect(b.decision).toBe(b.score < 0.3 ? 'allow' : b.score < 0.6 ? 'review' : 'block');
  });

  it('a pinned version serves even when it is not in production', async () => {
    const res = await inject('POST', '/v1/infer', { model: 'idle', version: 1, payload: row });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ model: 'idle', version: 1, arm: 'pinned' });
    // A binary model's reply, pinned by version, without an event id: only the fields that apply.
    expect(Object.keys(res.json()).sort()).toEqual(['arm', 'cached', 'decision', 'model', 'prediction_id', 'score', 'version']);
    expect(res.body).not.toContain('null');
  });

  it('model with nothing in production → 503 MODEL_NOT_AVAILABLE "Model not available: …" saying what to do', async () => {
    const res = await inject('POST', '/v1/infer', { model: 'idle', payload: row });
    expectError(res, 503, 'MODEL_NOT_AVAILABLE');
    // Only an operator ends it: no Retry-After to invite a retry loop.
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.json().error.message).toBe('Model not available: no version of idle is in production; promote one (modelgate promote --model idle --version N)');
  });

  it('unknown model / version → 404 naming them', async () => {
    expectError(await inject('POST', '/v1/infer', { model: 'nope', payload: row }), 404, 'MODEL_NOT_FOUND', 'nope');
    // It says where the registered names are.
    expect((await inject('POST', '/v1/infer', { model: 'nope', payload: row })).json().error.message).toMatch(/GET \/v1\/models/);
    expect((await inject('GET', '/v1/models/nope')).json().error.message).toMatch(/GET \/v1\/models/);
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', version: 9, payload: row }), 404, 'VERSION_NOT_FOUND', '9');
    expectError(await inject('GET', '/v1/models/nope'), 404, 'MODEL_NOT_FOUND');
    expectError(await inject('GET', '/v1/models/hotel/versions/7'), 404, 'VERSION_NOT_FOUND');
    expectError(await inject('POST', '/v1/models/nope/predict', { instances: [row] }), 404, 'MODEL_NOT_FOUND');
    expectError(await inject('GET', '/v1/nothing-here'), 404, 'NOT_FOUND');
  });

  it('a route asked with a method it does not take → 405 naming the methods it does (Allow), not "no route"', async () => {
    // A browser's GET of /v1/infer read "no route GET /v1/infer", as if the endpoint did not exist.
    const get = await inject('GET', '/v1/infer');
    expectError(get, 405, 'METHOD_NOT_ALLOWED');
    expect(get.headers.allow).toBe('POST');
    expect(get.json().error.message).toBe('GET /v1/infer: this route takes POST; the API is listed at /docs');
    expect(get.json().error.details).toEqual({ allow: ['POST'] });
    // A path with parameters, and one that several methods share (the retrain plan: GET, PUT, DELETE).
    const predict = await inject('GET', '/v1/models/hotel/predict?x=1');
    expectError(predict, 405, 'METHOD_NOT_ALLOWED');
    expect(predict.headers.allow).toBe('POST');
    const plan = await inject('POST', '/v1/models/hotel/retrain');
    expectError(plan, 405, 'METHOD_NOT_ALLOWED');
    expect(plan.headers.allow?.split(', ').sort()).toEqual(['DELETE', 'GET', 'PUT']);
    // A URL joined from a base ending in a slash: the route it meant is named.
    const slash = await inject('POST', '/v1/infer/', { model: 'hotel', payload: row });
    expectError(slash, 404, 'NOT_FOUND');
    expect(slash.json().error.message).toBe('no route POST /v1/infer/; did you mean POST /v1/infer?');
    expect((await inject('POST', '//v1/infer', { model: 'hotel', payload: row })).json().error.message).toBe('no route POST //v1/infer; did you mean POST /v1/infer?');
    // /v1/models/ matched /v1/models/:name with an empty name ("model  is not registered").
    const emptyName = await inject('GET', '/v1/models/');
    expectError(emptyName, 400, 'VALIDATION_FAILED');
    expect(emptyName.json().error.message).toBe('params.name: is empty; did you mean GET /v1/models?');
    expect((await inject('GET', '/v1/models//versions/1')).json().error.message).toBe('params.name: is empty');
    // A path no route has is still a 404, whatever the method.
    expectError(await inject('POST', '/v1/nothing-here', {}), 404, 'NOT_FOUND');
    expectError(await inject('GET', '/v1/models/hotel/versions/1/nothing'), 404, 'NOT_FOUND');
  });

  it('bad bodies are 4xx in the error model, never 5xx', async () => {
    expectError(await inject('POST', '/v1/infer', '{"model": "hotel", "payload": {', { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    expectError(await inject('POST', '/v1/infer', '{"model":"hotel","payload":{"adr":NaN}}', { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    expectError(await inject('POST', '/v1/infer', '{"model":"hotel","payload":{"adr":Infinity}}', { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    const form = await inject('POST', '/v1/infer', 'model=hotel', { 'content-type': 'application/x-www-form-urlencoded' });
    expectError(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(form.json().error.message).toBe('unsupported content type "application/x-www-form-urlencoded"; send the JSON body with Content-Type: application/json');
    // JSON sent as text/plain, as fetch() sends a string body unless told otherwise: the media type is what is wrong, not the body.
    const text = await inject('POST', '/v1/infer', JSON.stringify({ model: 'hotel', payload: row }), { 'content-type': 'text/plain;charset=UTF-8' });
    expectError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(text.json().error.message).toBe(
      'unsupported content type "text/plain;charset=UTF-8"; send the JSON body with Content-Type: application/json (fetch() sends a string body as text/plain unless its headers say otherwise)',
    );
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: row, pad: 'x'.repeat(30_000) }), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: 'lead_time=3' }), 400, 'VALIDATION_FAILED', 'payload');
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: [1, 2] }), 400, 'VALIDATION_FAILED', 'payload');
    expectError(await inject('POST', '/v1/infer', { model: 'hotel' }), 400, 'VALIDATION_FAILED', 'payload');
    // An empty event id (a client's unset variable) would be one event for every such request: feedback could not tell them apart.
    const empty = await inject('POST', '/v1/infer', { model: 'hotel', event_id: '', payload: row });
    expectError(empty, 400, 'VALIDATION_FAILED', 'event_id');
    expect(empty.json().error.message).toBe('body.event_id: is empty');
    // A pinned version beyond what a path can name (nine digits) is refused as such, not looked up as a rounded number.
    expect((await inject('POST', '/v1/infer', { model: 'hotel', version: 2 ** 60, payload: row })).json().error.message).toBe('body.version: must be <= 999999999');
    // The row sent under another name: the message shows what the body has instead.
    const misnamed = await inject('POST', '/v1/infer', { model: 'hotel', event_id: 'e9', features: row });
    expect(misnamed.json().error.message).toBe('body.payload: is required (it has model, event_id, features)');
    expect((await inject('POST', '/v1/infer', {})).json().error.message).toBe('body.payload: is required');
    const rows = await inject('POST', '/v1/models/hotel/predict', { rows: [row] });
    expect(rows.json().error.message).toBe('body.instances: is required (it has rows)');
    // Named ones are cut short: a request with 20 fields lists 8 and how many more.
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, i]));
    expect((await inject('POST', '/v1/infer', many)).json().error.message).toBe('body.payload: is required (it has f0, f1, f2, f3, f4, f5, f6, f7 and 12 more)');
    expectError(await inject('POST', '/v1/infer', { payload: row }), 400, 'VALIDATION_FAILED', 'model');
  });

  it('injected requests (no socket) leave no drain behind, a 413 and a 401 included', async () => {
    // The drain that reads a body still arriving after its answer is for real connections; on
    // app.inject's mock socket it found no bytes to count and, 10 s on, called a destroy() the
    // mock lacks: an uncaught TypeError in whatever ran then.
    const spy = vi.spyOn(globalThis, 'setInterval');
    try {
      expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: row, pad: 'x'.repeat(30_000) }), 413, 'PAYLOAD_TOO_LARGE');
      expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: row }, { authorization: 'Bearer not-a-token-anyone-has' }), 401, 'UNAUTHORIZED');
      expect((await inject('POST', '/v1/infer', { model: 'hotel', payload: row })).statusCode).toBe(200);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('a field the route does not take, and a value outside a list, are named with what to do', async () => {
    const unknown = await inject('GET', '/v1/predictions.csv?model=hotel&limit=3');
    expectError(unknown, 400, 'VALIDATION_FAILED');
    expect(unknown.json().error).toMatchObject({
      message: 'query.limit: is not a field this route takes in its query (the OpenAPI document at /docs lists them)',
      details: { field: 'query.limit' },
    });
    const outside = await inject('GET', '/v1/monitoring/hotel/history?metrics=maybe');
    expectError(outside, 400, 'VALIDATION_FAILED');
    expect(outside.json().error).toMatchObject({ message: 'query.metrics: must be one of "true", "false"', details: { field: 'query.metrics' } });
    const scope = await inject('POST', '/v1/keys', { name: 'k', scopes: ['root'] });
    expectError(scope, 400, 'VALIDATION_FAILED');
    expect(scope.json().error.message).toBe('body.scopes.0: must be one of "read", "infer", "feedback", "admin"');
  });

  it('wrong feature types and missing required features name the field', async () => {
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, lead_time: 'soon' } }), 400, 'VALIDATION_FAILED', 'payload.lead_time');
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: true } }), 400, 'VALIDATION_FAILED', 'payload.adr');
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, hotel: 3 } }), 400, 'VALIDATION_FAILED', 'payload.hotel');
    // A right value in the wrong JSON type (a client that read a CSV) is told what to send.
    const message = async (payload: Record<string, unknown>) => (await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, ...payload } })).json().error.message;
    expect(await message({ lead_time: ' 120 ' })).toBe('payload.lead_time: expected a number or null, got string: the string " 120 "; send it as a JSON number (120), without quotes');
    expect(await message({ lead_time: '' })).toBe('payload.lead_time: expected a number or null, got string: send null for a missing value');
    expect(await message({ lead_time: 'soon' })).toBe('payload.lead_time: expected a number or null, got string: the string "soon"');
    expect(await message({ hotel: 3 })).toBe('payload.hotel: expected a string, got 3: send it as a JSON string ("3")');
    const { deposit_type: _d, ...noDeposit } = row;
    expectError(await inject('POST', '/v1/infer', { model: 'hotel', payload: noDeposit }), 400, 'VALIDATION_FAILED', 'payload.deposit_type');
    expectError(await inject('POST', '/v1/models/hotel/predict', { instances: [row, { ...row, adults: 'two' }] }), 400, 'VALIDATION_FAILED', 'instances[1].adults');
  });

  it('refuses __proto__ and constructor.prototype keys', async () => {
    const proto = `{"model":"hotel","payload":${JSON.stringify(row).replace(/^\{/, '{"__proto__":{"isAdmin":true},')}}`;
    expectError(await inject('POST', '/v1/infer', proto, { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    const ctor = `{"model":"hotel","payload":${JSON.stringify(row).replace(/^\{/, '{"constructor":{"prototype":{"x":1}},')}}`;
    expectError(await inject('POST', '/v1/infer', ctor, { 'content-type': 'application/json' }), 400, 'BAD_REQUEST');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('null and missing numerics are missing values (NaN), imputed by the graph', async () => {
    const { adr: _a, ...noAdr } = row;
    const a = (await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: null } })).json();
    const b = (await inject('POST', '/v1/infer', { model: 'hotel', payload: noAdr })).json();
    const median = demo.preprocessor.numeric.find((n) => n.name === 'adr')!.median;
    const c = (await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: median } })).json();
    expect(a.score).toBe(b.score);
    expect(Math.abs(a.score - c.score)).toBeLessThan(1e-6);
  });

  it('batch predict: limits and per-row warnings', async () => {
    const tooMany = await inject('POST', '/v1/models/hotel/predict', { instances: Array(6).fill(row) });
    expectError(tooMany, 400, 'VALIDATION_FAILED', 'instances');
    expect(tooMany.json().error.message).toBe(
      'body.instances: more than 5 items; send at most PREDICT_MAX_INSTANCES=5 per request (split the rows over several requests, or score a file with modelgate score)',
    );
    expectError(await inject('POST', '/v1/models/hotel/predict', { instances: [] }), 400, 'VALIDATION_FAILED', 'instances');
    const res = await inject('POST', '/v1/models/hotel/predict', { instances: [row, { ...row, junk: 1 }] });
    expect(res.statusCode).toBe(200);
    const preds = res.json().predictions;
    expect(preds[0].warnings).toBeUndefined();
    expect(preds[1].warnings).toEqual(['instances[1].junk: unknown field, ignored']);
    expect(preds[0].score).toBe(preds[1].score);
    // A feature sent in another case is unknown, and the feature it meant goes missing: the warning names it.
    const { adr, ...rest } = row as Record<string, unknown>;
    const cased = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...rest, ADR: adr } });
    expect(cased.statusCode).toBe(200);
    // The feature it meant is then absent, scored as missing: said too.
    expect(cased.json().warnings).toEqual([
      'payload.ADR: unknown field, ignored (did you mean adr? names are case-sensitive)',
      'payload.adr: absent, scored as a missing value (send null when it is not known)',
    ]);
    const batch = await inject('POST', '/v1/models/hotel/predict', { instances: [{ ...rest, ADR: adr }] });
    expect(batch.json().predictions[0].warnings).toEqual([
      'instances[0].ADR: unknown field, ignored (did you mean adr? names are case-sensitive)',
      'instances[0].adr: absent, scored as a missing value (send null when it is not known)',
    ]);
    // A client that split a CRLF header keeps the \r on its last column's name.
    const crlf = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...rest, 'adr\r': adr } });
    expect(crlf.json().warnings).toEqual([
      'payload.adr\r: unknown field, ignored (did you mean "adr"? names must match exactly, with no spaces or line-end characters around them)',
      'payload.adr: absent, scored as a missing value (send null when it is not known)',
    ]);
  });

  it('what a reply quotes of what was sent is bounded: ten unknown fields by name, long values cut', async () => {
    // Before: one warning per unknown field and every value in full, so a reply outgrew its request
    // (60,000 extra fields made a 2.4 MB reply to a 0.77 MB request; a 900,000-character category came back whole).
    const extra = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x${i}`, 1]));
    const many = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, ...extra } });
    expect(many.statusCode).toBe(200);
    expect(many.json().warnings).toEqual([...Array.from({ length: 10 }, (_, i) => `payload.x${i}: unknown field, ignored`), 'payload: 490 more unknown fields, ignored']);
    const long = 'Q'.repeat(12_000);
    const cat = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, hotel: long } });
    expect(cat.json().warnings).toEqual([
      `payload.hotel: "${'Q'.repeat(60)}"… (12,000 characters) is not a category this model version knows; scored as an unseen one (it knows "City Hotel", "Resort Hotel")`,
    ]);
    const named = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, [long]: 1 } });
    expect(named.json().warnings).toEqual([`payload."${'Q'.repeat(60)}"… (12,000 characters): unknown field, ignored`]);
    const refused = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: long } });
    expectError(refused, 400, 'VALIDATION_FAILED', 'adr');
    expect(refused.body.length).toBeLessThan(1000);
    expect(refused.json().error.message).toBe(`payload.adr: expected a number or null, got string: the string "${'Q'.repeat(40)}"… (12,000 characters)`);
  });

  it('a feature left out is scored as missing, as null is, and the reply says which; null itself is not warned of', async () => {
    const numeric = Object.keys(row).filter((k) => typeof (row as Record<string, unknown>)[k] === 'number');
    expect(numeric.length).toBeGreaterThan(2);
    const [first, second] = numeric;
    const without = (...names: string[]) => Object.fromEntries(Object.entries(row).filter(([k]) => !names.includes(k)));
    const asNull = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, [first]: null } });
    expect(asNull.statusCode).toBe(200);
    expect(asNull.json().warnings).toBeUndefined();
    const left = await inject('POST', '/v1/infer', { model: 'hotel', payload: without(first) });
    expect(left.json().warnings).toEqual([`payload.${first}: absent, scored as a missing value (send null when it is not known)`]);
    expect(left.json().score).toBe(asNull.json().score);
    expect(left.json().score).not.toBe((await inject('POST', '/v1/infer', { model: 'hotel', payload: row })).json().score);
    const two = await inject('POST', '/v1/models/hotel/predict', { instances: [row, without(first, second)] });
    const features = Object.keys(row).length;
    expect(two.json().predictions.map((p: { warnings?: string[] }) => p.warnings)).toEqual([
      undefined,
      [`instances[1]: 2 of ${features} features absent, scored as missing values: ${first}, ${second} (send null for a value that is not known)`],
    ]);
  });

  it('a category the version does not know is scored as unseen, with a warning naming what was likely meant', async () => {
    const typo = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, deposit_type: 'non-refund' } });
    expect(typo.statusCode).toBe(200);
    expect(typo.json().warnings).toEqual([
      'payload.deposit_type: "non-refund" is not a category this model version knows; scored as an unseen one (did you mean "Non Refund"? categories are matched exactly)',
    ]);
    // Nothing like it: the categories the version knows, the three the demo data has.
    const other = await inject('POST', '/v1/infer', { model: 'hotel', payload: { ...row, deposit_type: 'Prepaid' } });
    const [warning] = other.json().warnings as string[];
    const listed = /^payload\.deposit_type: "Prepaid" is not a category this model version knows; scored as an unseen one \(it knows (.+)\)$/.exec(warning);
    expect(listed, warning).not.toBeNull();
    expect(JSON.parse(`[${listed![1]}]`).sort()).toEqual(['No Deposit', 'Non Refund', 'Refundable']);
    // Known categories, a missing one and null draw no warning; in a batch, each row its own.
    const { deposit_type: _d, ...noDeposit } = row as Record<string, unknown>;
    for (const payload of [row, noDeposit, { ...row, deposit_type: null }]) expect((await inject('POST', '/v1/infer', { model: 'hotel', payload })).json().warnings).toBeUndefined();
    const batch = (await inject('POST', '/v1/models/hotel/predict', { instances: [row, { ...row, hotel: 'city hotel', junk: 1 }] })).json().predictions;
    expect(batch[0].warnings).toBeUndefined();
    expect(batch[1].warnings).toEqual([
      'instances[1].junk: unknown field, ignored',
      'instances[1].hotel: "city hotel" is not a category this model version knows; scored as an unseen one (did you mean "City Hotel"? categories are matched exactly)',
    ]);
  });

  it('auth: 401 without or with a bad token; public routes stay open', async () => {
    const none = await s.app.inject({ method: 'POST', url: '/v1/infer', payload: { model: 'hotel', payload: row } });
    expectError(none, 401, 'UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const bad = await s.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${TOKEN}x` } });
    expectError(bad, 401, 'UNAUTHORIZED');
    const admin = await s.app.inject({ method: 'POST', url: '/v1/models/hotel/promote', payload: { version: 1 } });
    expectError(admin, 401, 'UNAUTHORIZED');
    // With the token: production is version 1 already, and the reply says nothing changed.
    const same = await inject('POST', '/v1/models/hotel/promote', { version: 1 });
    expect(same.statusCode).toBe(200);
    expect(same.json()).toMatchObject({ alias: 'production', version: 1, previous_version: 1, changed: false });
    for (const url of ['/healthz', '/health', '/readyz', '/ready', '/metrics', '/docs/json']) {
      expect((await s.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });

  it('health and readiness bodies', async () => {
    expect((await inject('GET', '/healthz')).json()).toMatchObject({ ok: true, service: 'modelgate' });
    expect((await inject('GET', '/health')).json()).toMatchObject({ status: 'healthy', model_loaded: true });
    expect((await inject('GET', '/ready')).json()).toEqual({ ready: true });
  });

  it('model listing and version details', async () => {
    const list = (await inject('GET', '/v1/models')).json();
    expect(list.total).toBe(2);
    expect(list.models.map((m: { name: string }) => m.name)).toEqual(['hotel', 'idle']);
    const v = (await inject('GET', '/v1/models/hotel/versions/1')).json();
    expect(v.contract.features).toHaveLength(14);
    expect(v.policy.type).toBe('bands');
    expect(v.aliases).toEqual(['production']);
  });

  it('exports the promised metrics', async () => {
    await inject('POST', '/v1/infer', { model: 'hotel', payload: row });
    const text = (await inject('GET', '/metrics')).body;
    expect(text).toMatch(/http_request_duration_seconds_bucket\{[^}]*method="POST"[^}]*route="\/v1\/infer"[^}]*status_code="200"/);
    expect(text).toMatch(/modelgate_predictions_total\{model="hotel",version="1",arm="production",engine="compiled",decision="(allow|review|block)"\} \d+/);
    expect(text).toMatch(/modelgate_inference_duration_seconds_count\{model="hotel",version="1",arm="production",engine="compiled"\} \d+/);
    expect(text).toContain('modelgate_rollout_canary_percent{model="hotel"} 0');
    expect(text).toContain('modelgate_model_loaded{model="hotel",version="1",alias="production",engine="compiled"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('labels request durations by route pattern, status and method, and unmatched paths as one route', async () => {
    const count = async (labels: string) => {
      const text = (await inject('GET', '/metrics')).body;
      const line = text.split('\n').find((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes(labels));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const versionRoute = 'method="GET",route="/v1/models/:name/versions/:version",status_code="200"';
    const missingVersion = 'method="GET",route="/v1/models/:name/versions/:version",status_code="404"';
    const unmatched = 'method="GET",route="unmatched",status_code="404"';
    const unauthorized = 'method="POST",route="/v1/infer",status_code="401"';
    const before = { ok: await count(versionRoute), missing: await count(missingVersion), unmatched: await count(unmatched), unauthorized: await count(unauthorized) };
    expect((await inject('GET', '/v1/models/hotel/versions/1')).statusCode).toBe(200);
    expect((await inject('GET', '/v1/models/idle/versions/1')).statusCode).toBe(200);
    expect((await inject('GET', '/v1/models/hotel/versions/99')).statusCode).toBe(404);
    expect((await inject('GET', '/no/such/path')).statusCode).toBe(404);
    expect((await inject('GET', '/another/missing/path?q=1')).statusCode).toBe(404);
    expect((await inject('POST', '/v1/infer', { model: 'hotel', payload: row }, { authorization: 'Bearer wrong' })).statusCode).toBe(401);
    expect(await count(versionRoute)).toBe(before.ok + 2);
    expect(await count(missingVersion)).toBe(before.missing + 1);
    expect(await count(unmatched)).toBe(before.unmatched + 2);
    expect(await count(unauthorized)).toBe(before.unauthorized + 1);
  });

  it('the OpenAPI document lists every route', async () => {
    const doc = (await inject('GET', '/docs/json')).json();
    for (const p of [
      '/v1/infer',
      '/v1/models',
      '/v1/models/{name}',
      '/v1/models/{name}/predict',
      '/v1/models/{name}/versions/{version}',
      '/v1/models/{name}/promote',
      '/v1/models/{name}/rollback',
      '/healthz',
      '/readyz',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });

  it('the OpenAPI document is valid OpenAPI 3.0 (as client generators read it), and the routes still check what it rewrote', async () => {
    const doc = (await inject('GET', '/docs/json')).json();
    expect(doc.openapi).toBe('3.0.3');
    // swagger-parser checks it against the OpenAPI 3.0 schema and resolves every $ref.
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
    const bound = doc.paths['/v1/canary'].post.requestBody.content['application/json'].schema.properties.analysis.properties.max_p95_ratio;
    expect(bound).toMatchObject({ type: 'number', minimum: 0, exclusiveMinimum: true });
    const zero = await inject('POST', '/v1/canary', { model: 'hotel', canary_version: 1, canary_percent: 10, analysis: { max_p95_ratio: 0 } });
    expect(zero.json().error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'body.analysis.max_p95_ratio: must be > 0' });
  });

  it('the telco fixture takes a [N,4] matrix when named', async () => {
    const { onnx, expected } = fixture('telco_numeric');
    await s.ctx.registry.register({ model: 'num', onnx, featureNames: expected.feature_names, actor: 't' });
    const res = await inject('POST', '/v1/infer', { model: 'num', version: 1, payload: { ...expected.rows[3] } });
    expect(Math.abs(res.json().score - expected.proba[3])).toBeLessThan(1e-5);
  });

  it('the model view names where a rollback goes, and a rollback or promotion with the version it expects is refused once the alias moved', async () => {
    for (let v = 1; v <= 3; v++) {
      await s.ctx.registry.register({ model: 'rb', onnx: demo.onnx, actor: 't' });
      expect((await inject('POST', '/v1/models/rb/promote', { version: v })).statusCode).toBe(200);
    }
    const rollbackTo = async () => (await inject('GET', '/v1/models/rb')).json().rollback_to;
    expect(await rollbackTo()).toEqual({ production: 2 });
    // Two operators roll back from the same page, which said version 3: the second is refused.
    expect((await inject('POST', '/v1/models/rb/rollback', { version: 3 })).json()).toMatchObject({ version: 2, rolled_back_from: 3 });
    const stale = await inject('POST', '/v1/models/rb/rollback', { version: 3 });
    expectError(stale, 409, 'CONFLICT');
    expect(stale.json().error.message).toMatch(/production of rb is version 2, not 3; nothing rolled back/);
    expect(await rollbackTo()).toEqual({ production: 1 });
    expect((await inject('POST', '/v1/models/rb/rollback', {})).json()).toMatchObject({ version: 1 });
    expect(await rollbackTo()).toEqual({ production: null });
    expectError(await inject('POST', '/v1/models/rb/rollback', {}), 409, 'CONFLICT');
    // A promotion from a page that showed production at 2: refused, production has moved to 1.
    const moved = await inject('POST', '/v1/models/rb/promote', { version: 3, from_version: 2 });
    expectError(moved, 409, 'CONFLICT');
    expect(moved.json().error.message).toMatch(/^production of rb is version 1, not 2: it moved since; nothing promoted/);
    expect((await inject('GET', '/v1/models/rb')).json().aliases).toEqual({ production: 1 });
    expect((await inject('POST', '/v1/models/rb/promote', { version: 3, from_version: 1 })).json()).toMatchObject({ version: 3, previous_version: 1 });
    expectError(await inject('POST', '/v1/models/rb/promote', { version: 2, target: 'archived', from_version: 3 }), 400, 'BAD_REQUEST', 'from_version');
  });
});

describe('auth off', () => {
  it('opens every route and logs a warning', async () => {
    const s = await startTestServer({ env: { MODELGATE_AUTH: 'off', MODELGATE_ADMIN_TOKEN: '' } });
    try {
      const res = await s.app.inject({ method: 'GET', url: '/v1/models' });
      expect(res.statusCode).toBe(200);
    } finally {
      await s.stop();
    }
  });
});
