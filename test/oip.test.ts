import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatTensor, model as onnxModel, node, valueInfo } from '../src/training/onnx-builder.js';
import { fixture, kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The Open Inference Protocol v2 (KServe, Triton, MLServer) served beside /v1: health, metadata,
 * infer for every task, the protocol's error shape, and the same auth, rate limits, audit and
 * canary routing as /v1. No maintained OIP client is installable from npm or Debian (the
 * KServe and Triton clients are Python packages on PyPI), so requests are written as the
 * protocol's documents give them.
 */
const geo = kindFixture('bank_geography');
const charges = kindFixture('telco_charges');
const numeric = fixture('telco_numeric');

/** The published example's model shape: input0 a [N,2] tensor; output0 = the row sums, [N,1]. */
const mymodel = onnxModel({
  name: 'mymodel',
  nodes: [node('MatMul', ['input0', 'ones'], ['output0'])],
  inputs: [valueInfo('input0', 'float', ['N', 2])],
  outputs: [valueInfo('output0', 'float', ['N', 1])],
  initializers: [floatTensor('ones', [2, 1], [1, 1])],
});

/** The protocol's own example request (kserve.github.io, "Inference Request Examples"), byte for byte in meaning. */
const PUBLISHED_EXAMPLE = {
  id: '42',
  inputs: [
    { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
    { name: 'input1', shape: [3], datatype: 'BOOL', data: [true] },
  ],
  outputs: [{ name: 'output0' }],
};

/** Rows as one tensor per feature, the way an OIP client sends a dataframe. */
function tensorsOf(rows: Record<string, unknown>[], types: Record<string, string>, shape: 'flat' | 'column' = 'flat') {
  return Object.keys(rows[0]).map((name) => ({
    name,
    datatype: types[name] ?? 'FP32',
    shape: shape === 'flat' ? [rows.length] : [rows.length, 1],
    data: shape === 'flat' ? rows.map((r) => r[name]) : rows.map((r) => [r[name]]),
  }));
}

describe('Open Inference Protocol v2', () => {
  let s: TestServer;
  let readKey = '';
  let slowKey = '';
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'charges', onnx: charges.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'telco-numeric', onnx: numeric.onnx, featureNames: numeric.expected.feature_names, actor: 't' });
    await s.ctx.registry.register({ model: 'mymodel', onnx: mymodel, featureNames: ['a', 'b'], actor: 't' });
    for (const m of ['geo', 'charges', 'telco-numeric', 'mymodel']) await s.ctx.registry.promote({ model: m, target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    readKey = (await s.ctx.access.create({ name: 'reader', scopes: ['read'], actor: 't' })).token;
    slowKey = (await s.ctx.access.create({ name: 'slow', scopes: ['infer'], rate: '2/m', actor: 't' })).token;
  });
  afterAll(() => s?.stop());

  const call = async (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = s.auth) => {
    const res = await s.app.inject({ method, url, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  const outputOf = (body: { outputs: { name: string; data: unknown[]; shape: number[]; datatype: string }[] }, name: string) => body.outputs.find((o) => o.name === name)!;

  it('server metadata, liveness and readiness', async () => {
    expect((await call('GET', '/v2', undefined, {})).body).toMatchObject({ name: 'modelgate', extensions: [] });
    expect(await call('GET', '/v2/health/live', undefined, {})).toMatchObject({ status: 200, body: { live: true } });
    expect(await call('GET', '/v2/health/ready', undefined, {})).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('model metadata: one input per feature with its datatype, or the [N,F] matrix; the outputs of its task', async () => {
    const g = await call('GET', '/v2/models/geo');
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ name: 'geo', versions: ['1'], platform: 'onnxruntime_onnx', parameters: { task: 'multiclass', classes: ['?', 'France', 'Germany', 'Spain'] } });
    expect(g.body.inputs).toContainEqual({ name: 'Gender', datatype: 'BYTES', shape: [-1] });
    expect(g.body.inputs).toContainEqual({ name: 'Age', datatype: 'FP32', shape: [-1] });
    expect(g.body.outputs.map((o: { name: string }) => o.name)).toEqual(['label', 'probabilities', 'score', 'decision', 'prediction_id']);
    expect(g.body.outputs[1]).toEqual({ name: 'probabilities', datatype: 'FP64', shape: [-1, 4] });
    const n = await call('GET', '/v2/models/telco-numeric/versions/1');
    expect(n.body).toMatchObject({ inputs: [{ name: 'float_input', datatype: 'FP32', shape: [-1, 4] }], parameters: { feature_names: numeric.expected.feature_names, task: 'binary' } });
    const c = await call('GET', '/v2/models/charges');
    expect(c.body.outputs.map((o: { name: string }) => o.name)).toEqual(['value', 'score', 'decision', 'prediction_id']);
    expect(await call('GET', '/v2/models/geo/ready')).toMatchObject({ status: 200, body: { name: 'geo', ready: true } });
    expect(await call('GET', '/v2/models/geo/versions/1/ready')).toMatchObject({ status: 200, body: { ready: true } });
    const missing = await call('GET', '/v2/models/nope/ready');
    expect(missing).toMatchObject({ status: 404, body: { error: expect.stringMatching(/model nope is not registered/) } });
    expect(await call('GET', '/v2/models/geo/versions/9/ready')).toMatchObject({ status: 404, body: { error: expect.stringMatching(/no version 9/) } });
  });

  it('multiclass: one tensor per feature (BYTES for strings) gives label, probabilities [N,C] as onnxruntime computes, the id echoed', async () => {
    const types = { Gender: 'BYTES' };
    const r = await call('POST', '/v2/models/geo/infer', { id: 'batch-7', inputs: tensorsOf(geo.expected.rows, types) });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ model_name: 'geo', model_version: '1', id: 'batch-7', parameters: { arm: 'production', task: 'multiclass' } });
    const probs = outputOf(r.body, 'probabilities');
    expect(probs).toMatchObject({ datatype: 'FP64', shape: [200, 4], parameters: { classes: ['?', 'France', 'Germany', 'Spain'] } });
    let worst = 0;
    (probs.data as number[]).forEach((p, k) => (worst = Math.max(worst, Math.abs(p - geo.expected.onnxruntime[Math.floor(k / 4)][k % 4]))));
    expect(worst).toBeLessThan(1e-6);
    const labels = outputOf(r.body, 'label');
    expect(labels).toMatchObject({ datatype: 'BYTES', shape: [200] });
    geo.expected.onnxruntime.forEach((p, i) => {
      const sorted = [...p].sort((a, b) => b - a);
      if (sorted[0] - sorted[1] > 1e-6) expect(labels.data[i]).toBe(geo.expected.classes[p.indexOf(sorted[0])]);
    });
    expect(outputOf(r.body, 'prediction_id').data).toHaveLength(200);
    // Column tensors ([N,1], nested data) mean the same.
    const nested = await call('POST', '/v2/models/geo/versions/1/infer', { inputs: tensorsOf(geo.expected.rows.slice(0, 5), types, 'column'), outputs: [{ name: 'label' }] });
    expect(nested.status, JSON.stringify(nested.body)).toBe(200);
    expect(nested.body.outputs).toEqual([{ name: 'label', datatype: 'BYTES', shape: [5], data: labels.data.slice(0, 5) }]);
    expect(nested.body.parameters.arm).toBe('pinned');
  });

  it('binary from one [N,F] FP32 matrix, regression from per-feature tensors: what scikit-learn and onnxruntime computed', async () => {
    const m = numeric.expected.rows.map((row) => numeric.expected.feature_names!.map((f) => row[f]));
    const r = await call('POST', '/v2/models/telco-numeric/infer', { inputs: [{ name: 'float_input', shape: [m.length, 4], datatype: 'FP32', data: m.flat() }] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const score = outputOf(r.body, 'score').data as number[];
    score.forEach((v, i) => expect(Math.abs(v - numeric.expected.proba[i])).toBeLessThan(1e-5));
    expect(outputOf(r.body, 'decision').data).toEqual(numeric.expected.proba.map((p) => (p >= 0.5 ? 'act' : 'none')));

    const types = Object.fromEntries(Object.entries(charges.expected.rows[0]).map(([k, v]) => [k, typeof v === 'string' ? 'BYTES' : 'FP64']));
    const c = await call('POST', '/v2/models/charges/infer', { inputs: tensorsOf(charges.expected.rows, types) });
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    const value = outputOf(c.body, 'value');
    expect(value).toMatchObject({ datatype: 'FP64', shape: [200] });
    (value.data as number[]).forEach((v, i) => expect(Math.abs(v - charges.expected.onnxruntime[i])).toBeLessThan(1e-5));
  });

  it("the protocol's published example (two inputs for a one-input model, and an input1 of shape [3] with one value) is refused in the protocol's error shape; as this model takes it, it scores", async () => {
    const published = await call('POST', '/v2/models/mymodel/infer', PUBLISHED_EXAMPLE);
    expect(published.status).toBe(400);
    expect(Object.keys(published.body)).toEqual(['error']);
    expect(published.body.error).toBe('inputs: this model takes one [N,2] tensor input0 (FP32, FP64, INT64, INT32) or one tensor per feature (a, b); got input0, input1');
    const shape = await call('POST', '/v2/models/mymodel/infer', {
      ...PUBLISHED_EXAMPLE,
      inputs: [
        { name: 'a', shape: [3], datatype: 'FP32', data: [1] },
        { name: 'b', shape: [3], datatype: 'FP32', data: [1, 2, 3] },
      ],
    });
    expect(shape).toMatchObject({ status: 400, body: { error: 'inputs[0]: shape [3] holds 3 values but data has 1' } });
    const uint = await call('POST', '/v2/models/mymodel/infer', { ...PUBLISHED_EXAMPLE, inputs: [PUBLISHED_EXAMPLE.inputs[0]] });
    expect(uint).toMatchObject({ status: 400, body: { error: 'inputs[0].datatype: a feature matrix is FP32, FP64, INT64, INT32, not UINT32' } });
    const corrected = await call('POST', '/v2/models/mymodel/infer', { ...PUBLISHED_EXAMPLE, inputs: [{ ...PUBLISHED_EXAMPLE.inputs[0], datatype: 'FP32' }], outputs: [{ name: 'value' }] });
    expect(corrected.status, JSON.stringify(corrected.body)).toBe(200);
    expect(corrected.body).toMatchObject({ id: '42', model_name: 'mymodel', outputs: [{ name: 'value', shape: [2], datatype: 'FP64', data: [3, 7] }] });
  });

  it('bad requests: 400 {"error"} for mismatched shape and data, an unknown datatype, a missing or unknown input, an unknown output', async () => {
    const rows = geo.expected.rows.slice(0, 3);
    const good = tensorsOf(rows, { Gender: 'BYTES' });
    const err = async (inputs: unknown, extra: Record<string, unknown> = {}) => {
      const r = await call('POST', '/v2/models/geo/infer', { inputs, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(Object.keys(r.body)).toEqual(['error']);
      return r.body.error as string;
    };
    expect(await err(good.map((t, i) => (i === 0 ? { ...t, data: t.data.slice(0, 2) } : t)))).toMatch(/inputs\[0\]: shape \[3\] holds 3 values but data has 2/);
    expect(await err(good.map((t, i) => (i === 0 ? { ...t, datatype: 'FLOAT32' } : t)))).toMatch(/unknown datatype "FLOAT32"; the protocol's datatypes are BOOL, .*BYTES/);
    expect(await err(good.map((t) => (t.name === 'Gender' ? { ...t, datatype: 'FP32' } : t)))).toMatch(/input Gender is string: send BYTES, not FP32/);
    expect(await err(good.filter((t) => t.name !== 'Age'))).toMatch(/missing input Age/);
    expect(await err([...good, { name: 'Surname', datatype: 'BYTES', shape: [3], data: ['a', 'b', 'c'] }])).toMatch(/"Surname" is not an input of this model/);
    expect(await err(good.map((t, i) => (i === 1 ? { ...t, shape: [2], data: t.data.slice(0, 2) } : t)))).toMatch(/has 2 rows, the inputs before it 3/);
    expect(await err(good, { outputs: [{ name: 'output0' }] })).toMatch(/"output0" is not an output of this model; its outputs are label, probabilities, score, decision, prediction_id/);
    expect(await err(good.map((t) => (t.name === 'Age' ? { ...t, data: ['old', 'x', 'y'] } : t)))).toMatch(/a FP32 value is a number, got "old"/);
    expect(await err('nope')).toMatch(/inputs/);
    const unknownModel = await call('POST', '/v2/models/nope/infer', { inputs: good });
    expect(unknownModel).toMatchObject({ status: 404, body: { error: expect.stringMatching(/not registered/) } });
  });

  it('same auth, scopes and rate limits as /v1, errors in the protocol shape; predictions audited with the request id', async () => {
    const inputs = tensorsOf(geo.expected.rows.slice(0, 2), { Gender: 'BYTES' });
    const anon = await call('POST', '/v2/models/geo/infer', { inputs }, {});
    expect(anon.status).toBe(401);
    expect(Object.keys(anon.body)).toEqual(['error']);
    expect(anon.headers['www-authenticate']).toBe('Bearer');
    const readOnly = await call('POST', '/v2/models/geo/infer', { inputs }, { authorization: `Bearer ${readKey}` });
    expect(readOnly.status).toBe(403);
    expect(typeof readOnly.body.error).toBe('string');
    expect((await call('GET', '/v2/models/geo', undefined, { authorization: `Bearer ${readKey}` })).status).toBe(200);
    const slow = { authorization: `Bearer ${slowKey}` };
    expect((await call('POST', '/v2/models/geo/infer', { inputs, id: 'audited-1' }, slow)).status).toBe(200);
    expect((await call('POST', '/v2/models/geo/infer', { inputs }, slow)).status).toBe(200);
    const limited = await call('POST', '/v2/models/geo/infer', { inputs }, slow);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatch(/rate limit of 2\/m exceeded/);
    expect(limited.headers['retry-after']).toBeDefined();
    await s.audit.flush();
    const audit = await call('GET', '/v1/predictions?model=geo&limit=1000');
    const rows = audit.body.predictions.filter((p: { event_id: string }) => p.event_id === 'audited-1');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ arm: 'production', version: 1 });
    expect(typeof rows[0].label).toBe('string');
  });
});
