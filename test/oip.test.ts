import { brotliCompressSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
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

/**
 * A request body as the binary tensor data extension lays it out (Triton's client's default):
 * the JSON header, then each binary input's bytes in order, little-endian; a BYTES element is
 * its 4-byte length and its UTF-8 bytes. Written here from the extension's document, not with
 * the server's code.
 */
function binaryBody(json: { inputs: { name: string; datatype: string; shape: number[]; values?: unknown[]; data?: unknown[] }[] } & Record<string, unknown>) {
  const chunks: Buffer[] = [];
  const inputs = json.inputs.map(({ values, ...t }) => {
    if (values === undefined) return t;
    let bytes: Buffer;
    if (t.datatype === 'BYTES') {
      bytes = Buffer.concat(
        values.map((v) => {
          const text = Buffer.from(String(v), 'utf8');
          const len = Buffer.alloc(4);
          len.writeUInt32LE(text.length);
          return Buffer.concat([len, text]);
        }),
      );
    } else {
      const width = { FP32: 4, FP64: 8, INT64: 8, BOOL: 1, FP16: 2 }[t.datatype]!;
      bytes = Buffer.alloc(values.length * width);
      values.forEach((v, i) => {
        if (t.datatype === 'FP32') bytes.writeFloatLE(v as number, i * 4);
        else if (t.datatype === 'FP64') bytes.writeDoubleLE(v as number, i * 8);
        else if (t.datatype === 'INT64') bytes.writeBigInt64LE(BigInt(v as number), i * 8);
        else if (t.datatype === 'FP16') bytes.writeUInt16LE(v as number, i * 2);
        else bytes.writeUInt8(v as number, i);
      });
    }
    chunks.push(bytes);
    return { ...t, parameters: { binary_data_size: bytes.length } };
  });
  const header = Buffer.from(JSON.stringify({ ...json, inputs }));
  return { payload: Buffer.concat([header, ...chunks]), headerLength: header.length };
}

/** A binary reply's outputs with their data read back from the bytes after the JSON header. */
function readBinaryReply(body: Buffer, headerLength: number) {
  const json = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
    outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[];
  };
  let at = headerLength;
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    const bytes = body.subarray(at, at + size);
    at += size;
    const data: unknown[] = [];
    if (o.datatype === 'BYTES') {
      for (let k = 0; k < bytes.length;) {
        const len = bytes.readUInt32LE(k);
        data.push(bytes.toString('utf8', k + 4, k + 4 + len));
        k += 4 + len;
      }
    } else for (let k = 0; k < bytes.length; k += 8) data.push(o.datatype === 'INT64' ? Number(bytes.readBigInt64LE(k)) : bytes.readDoubleLE(k));
    o.data = data;
  }
  expect(at).toBe(body.length);
  return json;
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
    expect((await call('GET', '/v2', undefined, {})).body).toEqual({ name: 'modelgate', version: expect.any(String), extensions: ['binary_tensor_data'] });
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
    // A category the version does not know (its one-hot encoder's): scored as unseen, and said in the
    // reply's parameters, as one string (the protocol's parameters are booleans, numbers or strings).
    expect(c.body.parameters.warnings).toBeUndefined();
    const rows = charges.expected.rows.slice(0, 3).map((row, i) => (i === 1 ? { ...row, Contract: 'month to month' } : row));
    const typo = await call('POST', '/v2/models/charges/infer', { inputs: tensorsOf(rows, types) });
    expect(typo.status, JSON.stringify(typo.body)).toBe(200);
    expect(typo.body.parameters.warnings).toBe(
      'row[1].Contract: "month to month" is not a category this model version knows; scored as an unseen one (did you mean "Month-to-month"? categories are matched exactly)',
    );
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
  it("binary tensor data (Triton's client's default): inputs as bytes after the JSON header, no Content-Type; outputs as bytes when asked, the same values as JSON", async () => {
    const rows = geo.expected.rows;
    const features = Object.keys(rows[0]);
    const inputs = features.map((name) => ({ name, datatype: name === 'Gender' ? 'BYTES' : 'FP32', shape: [rows.length], values: rows.map((r) => r[name]) }));
    const { payload, headerLength } = binaryBody({ id: 'bin-1', inputs, parameters: { binary_data_output: true } });
    const res = await s.app.inject({ method: 'POST', url: '/v2/models/geo/infer', headers: { ...s.auth, 'inference-header-content-length': String(headerLength) }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const reply = readBinaryReply(res.rawPayload, Number(res.headers['inference-header-content-length']));
    expect(reply).toMatchObject({ model_name: 'geo', id: 'bin-1' });
    const probs = reply.outputs.find((o) => o.name === 'probabilities')!;
    expect(probs).toMatchObject({ datatype: 'FP64', shape: [200, 4], parameters: { classes: ['?', 'France', 'Germany', 'Spain'], binary_data_size: 200 * 4 * 8 } });
    let worst = 0;
    (probs.data as number[]).forEach((p, k) => (worst = Math.max(worst, Math.abs(p - geo.expected.onnxruntime[Math.floor(k / 4)][k % 4]))));
    expect(worst).toBeLessThan(1e-6);
    // The same rows as JSON answer the same labels and decisions.
    const json = await call('POST', '/v2/models/geo/infer', { inputs: tensorsOf(rows, { Gender: 'BYTES' }) });
    expect(reply.outputs.find((o) => o.name === 'label')!.data).toEqual(outputOf(json.body, 'label').data);
    expect(reply.outputs.find((o) => o.name === 'decision')!.data).toEqual(outputOf(json.body, 'decision').data);
    const ids = reply.outputs.find((o) => o.name === 'prediction_id')!.data as string[];
    expect(new Set(ids).size).toBe(200);
    ids.forEach((id) => expect(id).toMatch(/^[0-9a-f-]{36}$/));

    // One output asked for as bytes, one as JSON; binary inputs with a JSON reply.
    const mixed = binaryBody({ inputs, outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'score' }] });
    const m = await s.app.inject({
      method: 'POST',
      url: '/v2/models/geo/infer',
      headers: { ...s.auth, 'content-type': 'application/octet-stream', 'inference-header-content-length': String(mixed.headerLength) },
      payload: mixed.payload,
    });
    expect(m.statusCode, m.body).toBe(200);
    const mr = readBinaryReply(m.rawPayload, Number(m.headers['inference-header-content-length']));
    expect(mr.outputs.map((o) => [o.name, o.parameters?.binary_data_size === undefined])).toEqual([
      ['label', false],
      ['score', true],
    ]);
    expect(mr.outputs[0].data).toEqual(outputOf(json.body, 'label').data);
    expect(mr.outputs[1].data).toEqual(outputOf(json.body, 'score').data);
    const plainBody = binaryBody({ inputs });
    const plain = await s.app.inject({
      method: 'POST',
      url: '/v2/models/geo/infer',
      headers: { ...s.auth, 'inference-header-content-length': String(plainBody.headerLength) },
      payload: plainBody.payload,
    });
    expect(plain.statusCode, plain.body).toBe(200);
    expect(plain.headers['content-type']).toMatch(/^application\/json/);
    expect(outputOf(plain.json(), 'label').data).toEqual(outputOf(json.body, 'label').data);
  });

  it('binary FP32 NaN, a JSON NaN as Python writes it, and null all mean a missing value; FP16, INT64 and BOOL bytes read as their numbers', async () => {
    const names = numeric.expected.feature_names!;
    const row = { ...numeric.expected.rows[0] };
    const score = async (r: { statusCode: number; body: string; headers: Record<string, unknown>; rawPayload: Buffer }) => {
      expect(r.statusCode, r.body).toBe(200);
      const h = r.headers['inference-header-content-length'];
      const reply = h === undefined ? JSON.parse(r.body) : readBinaryReply(r.rawPayload, Number(h));
      return reply.outputs.find((o: { name: string }) => o.name === 'score').data[0] as number;
    };
    const withNull = await call('POST', '/v2/models/telco-numeric/infer', { inputs: names.map((n) => ({ name: n, datatype: 'FP64', shape: [1], data: [n === 'TotalCharges' ? null : row[n]] })) });
    expect(withNull.status, JSON.stringify(withNull.body)).toBe(200);
    const missing = outputOf(withNull.body, 'score').data[0] as number;
    const known = outputOf((await call('POST', '/v2/models/telco-numeric/infer', { inputs: names.map((n) => ({ name: n, datatype: 'FP64', shape: [1], data: [row[n]] })) })).body, 'score')
      .data[0] as number;
    expect(Math.abs(missing - known)).toBeGreaterThan(1e-4);
    const bin = binaryBody({ inputs: names.map((n) => ({ name: n, datatype: 'FP32', shape: [1], values: [n === 'TotalCharges' ? NaN : row[n]] })) });
    expect(
      await score(
        await s.app.inject({ method: 'POST', url: '/v2/models/telco-numeric/infer', headers: { ...s.auth, 'inference-header-content-length': String(bin.headerLength) }, payload: bin.payload }),
      ),
    ).toBe(missing);
    // Python's json.dumps and rapidjson write NaN and Infinity bare; inside a string they stay text.
    const python = `{"id": "NaN Infinity", "inputs": [${names.map((n) => `{"name": "${n}", "datatype": "FP64", "shape": [1], "data": [${n === 'TotalCharges' ? 'NaN' : row[n]}]}`).join(', ')}]}`;
    const py = await s.app.inject({ method: 'POST', url: '/v2/models/telco-numeric/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: python });
    expect(await score(py)).toBe(missing);
    expect(JSON.parse(py.body).id).toBe('NaN Infinity');
    const infinite = await s.app.inject({ method: 'POST', url: '/v2/models/telco-numeric/infer', headers: s.auth, payload: python.replace('NaN]', '-Infinity]') });
    expect(infinite.statusCode, infinite.body).toBe(200);
    // /v1 keeps strict JSON.
    const v1Body = `{"model": "telco-numeric", "payload": {"note": "NaN", "tenure": NaN}}`;
    const v1 = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: v1Body });
    expect(v1.statusCode).toBe(400);
    // It says which token, where, and what to send instead (the "NaN" string before it is not it).
    expect(v1.json().error.message).toBe(
      `malformed JSON body: NaN at position ${v1Body.lastIndexOf('NaN')} is not JSON (Python's json.dumps writes it for a missing or infinite float); send null for a missing value`,
    );
    const cut = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: `{"model": "NaN", "payload": {` });
    expect(cut.json().error.message).toBe("malformed JSON body: Expected property name or '}' at position 29; send one JSON object");

    // FP16 1.0 (0x3c00) and 46.0 (0x51c0) for SeniorCitizen and tenure read as those numbers.
    const halfRow: Record<string, unknown> = { ...row, SeniorCitizen: 1, tenure: 46 };
    const exact = await call('POST', '/v2/models/telco-numeric/infer', { inputs: names.map((n) => ({ name: n, datatype: 'FP64', shape: [1], data: [halfRow[n]] })) });
    const half = binaryBody({
      inputs: names.map((n) =>
        n === 'SeniorCitizen' || n === 'tenure'
          ? { name: n, datatype: 'FP16', shape: [1], values: [n === 'tenure' ? 0x51c0 : 0x3c00] }
          : { name: n, datatype: 'FP64', shape: [1], values: [halfRow[n]] },
      ),
    });
    expect(
      await score(
        await s.app.inject({ method: 'POST', url: '/v2/models/telco-numeric/infer', headers: { ...s.auth, 'inference-header-content-length': String(half.headerLength) }, payload: half.payload }),
      ),
    ).toBe(outputOf(exact.body, 'score').data[0]);
    const ints = binaryBody({
      inputs: [
        { name: 'a', datatype: 'INT64', shape: [2], values: [3, -4] },
        { name: 'b', datatype: 'FP32', shape: [2], values: [0.5, 2] },
      ],
      outputs: [{ name: 'value' }],
    });
    const summed = await s.app.inject({ method: 'POST', url: '/v2/models/mymodel/infer', headers: { ...s.auth, 'inference-header-content-length': String(ints.headerLength) }, payload: ints.payload });
    expect(summed.statusCode, summed.body).toBe(200);
    expect(JSON.parse(summed.body).outputs[0].data).toEqual([3.5, -2]);
  });

  it('bad binary requests: 400 {"error"} naming what is wrong; unknown /v2 routes 404 in the protocol shape', async () => {
    const post = async (payload: Buffer | string, headers: Record<string, string>) => {
      const r = await s.app.inject({ method: 'POST', url: '/v2/models/mymodel/infer', headers: { ...s.auth, ...headers }, payload });
      if (r.statusCode !== 200) expect(Object.keys(r.json())).toEqual(['error']);
      return { status: r.statusCode, error: r.json().error as string };
    };
    const ok = binaryBody({ inputs: [{ name: 'input0', datatype: 'FP32', shape: [1, 2], values: [1, 2] }] });
    const h = { 'inference-header-content-length': String(ok.headerLength) };
    expect((await post(ok.payload, h)).status).toBe(200);
    expect(await post(ok.payload, {})).toMatchObject({ status: 400, error: expect.stringMatching(/binary_data_size is set, but the request has no Inference-Header-Content-Length header/) });
    expect(await post(ok.payload, { 'inference-header-content-length': String(ok.payload.length + 1) })).toMatchObject({
      status: 400,
      error: expect.stringMatching(/Inference-Header-Content-Length: \d+ is not the byte length of a JSON header within the body's \d+ bytes/),
    });
    expect(await post(ok.payload, { 'inference-header-content-length': String(ok.headerLength - 3) })).toMatchObject({
      status: 400,
      error: expect.stringMatching(/the JSON header \(the body's first \d+ bytes, as Inference-Header-Content-Length says\) is not valid JSON/),
    });
    expect(await post(Buffer.concat([ok.payload, Buffer.alloc(4)]), h)).toMatchObject({
      status: 400,
      error: "the body holds 12 bytes after its JSON header, but the inputs' parameters.binary_data_size add up to 8",
    });
    const noHeader = JSON.stringify({ inputs: [{ name: 'input0', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } }] });
    expect(await post(noHeader, { 'content-type': 'application/json' })).toMatchObject({
      status: 400,
      error: expect.stringMatching(/binary_data_size is set but the request has no Inference-Header-Content-Length header/),
    });
    const short = binaryBody({ inputs: [{ name: 'input0', datatype: 'FP32', shape: [2, 2], values: [1, 2] }] });
    expect(await post(short.payload, { 'inference-header-content-length': String(short.headerLength) })).toMatchObject({
      status: 400,
      error: 'inputs[0]: its shape holds 4 FP32 values (16 bytes) but parameters.binary_data_size is 8',
    });
    const both = binaryBody({ inputs: [{ name: 'input0', datatype: 'FP32', shape: [1, 2], values: [1, 2], data: [1, 2] }] });
    expect(await post(both.payload, { 'inference-header-content-length': String(both.headerLength) })).toMatchObject({
      status: 400,
      error: 'inputs[0]: has both data and parameters.binary_data_size; send one',
    });
    const truncated = binaryBody({ inputs: [{ name: 'a', datatype: 'BYTES', shape: [1], values: ['abc'] }] });
    truncated.payload.writeUInt32LE(99, truncated.headerLength);
    expect(await post(truncated.payload, { 'inference-header-content-length': String(truncated.headerLength) })).toMatchObject({
      status: 400,
      error: 'inputs[0]: a BYTES element of 99 bytes runs past its binary_data_size',
    });
    const bool = binaryBody({ inputs: [{ name: 'a', datatype: 'BOOL', shape: [1], values: [2] }] });
    expect(await post(bool.payload, { 'inference-header-content-length': String(bool.headerLength) })).toMatchObject({ status: 400, error: 'inputs[0]: a BOOL byte is 0 or 1, got 2 at element 0' });

    for (const [method, url] of [
      ['GET', '/v2/models/geo/config'],
      ['GET', '/v2/models/geo/stats'],
      ['POST', '/v2/repository/index'],
    ] as const) {
      const r = await s.app.inject({ method, url, headers: s.auth });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toEqual({ error: `no route ${method} ${url}; the API is listed at /docs` });
    }
    // A route asked with another method: 405 in the protocol's error shape, with Allow.
    const wrongMethod = await s.app.inject({ method: 'GET', url: '/v2/models/geo/infer', headers: s.auth });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(wrongMethod.json()).toEqual({ error: 'GET /v2/models/geo/infer: this route takes POST; the API is listed at /docs' });
    const v1 = await s.app.inject({ method: 'GET', url: '/v1/nothing', headers: s.auth });
    expect(v1.json()).toMatchObject({ error: { code: 'NOT_FOUND', request_id: expect.any(String) } });
    // /v1 still asks for a JSON Content-Type.
    const untyped = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: '{"model":"geo","payload":{}}' });
    expect(untyped.statusCode).toBe(415);
  });
  it("compressed bodies (Triton's request_compression_algorithm): gzip, deflate and br read as sent; a bad stream, an unknown encoding and a body that expands past BODY_LIMIT_BYTES refused", async () => {
    const rows = numeric.expected.rows.slice(0, 20);
    const names = numeric.expected.feature_names!;
    const body = { inputs: [{ name: 'float_input', datatype: 'FP32', shape: [20, 4], data: rows.flatMap((r) => names.map((n) => r[n])) }], outputs: [{ name: 'score' }] };
    const plain = await call('POST', '/v2/models/telco-numeric/infer', body);
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    const send = (payload: Buffer, encoding: string, headers: Record<string, string> = {}) =>
      s.app.inject({ method: 'POST', url: '/v2/models/telco-numeric/infer', headers: { ...s.auth, 'content-encoding': encoding, ...headers }, payload });
    const text = Buffer.from(JSON.stringify(body));
    for (const [encoding, packed] of [
      ['gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['br', brotliCompressSync(text)],
    ] as const) {
      const r = await send(packed, encoding);
      expect(r.statusCode, `${encoding}: ${r.body}`).toBe(200);
      expect(r.json().outputs).toEqual(plain.body.outputs);
    }
    const bin = binaryBody({ inputs: [{ name: 'float_input', datatype: 'FP32', shape: [20, 4], values: rows.flatMap((r) => names.map((n) => r[n])) }], outputs: [{ name: 'score' }] });
    const binGz = await send(gzipSync(bin.payload), 'gzip', { 'inference-header-content-length': String(bin.headerLength) });
    expect(binGz.statusCode, binGz.body).toBe(200);
    expect(binGz.json().outputs).toEqual(plain.body.outputs);

    const notGzip = await send(text, 'gzip');
    expect(notGzip.statusCode).toBe(400);
    expect(notGzip.json()).toEqual({ error: 'the body is not valid gzip data (incorrect header check), though Content-Encoding says so; send it as it says, or uncompressed' });
    const zstd = await send(text, 'zstd');
    expect(zstd.statusCode).toBe(415);
    expect(zstd.json()).toEqual({ error: 'Content-Encoding zstd is not supported; send the body as gzip, deflate or br, or uncompressed' });
    // 4 MiB of zeros is 4 KB gzipped: the limit (1 MiB) holds for what it expands to.
    const bomb = await send(gzipSync(Buffer.alloc(4 * 1024 * 1024)), 'gzip');
    expect(bomb.statusCode).toBe(413);
    // A client that asks (Accept-Encoding) gets an OIP reply over 1 KB compressed; /v1 answers as before.
    const allOutputs = JSON.stringify({ inputs: body.inputs });
    const zipped = await s.app.inject({
      method: 'POST',
      url: '/v2/models/telco-numeric/infer',
      headers: { ...s.auth, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      payload: allOutputs,
    });
    expect(zipped.statusCode).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const unzipped = JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8')) as { outputs: { name: string; data: unknown[] }[] };
    expect(unzipped.outputs.find((o) => o.name === 'score')!.data).toEqual(plain.body.outputs[0].data);
    expect(unzipped.outputs.find((o) => o.name === 'prediction_id')!.data).toHaveLength(20);
    const listing = await s.app.inject({ method: 'GET', url: '/v1/models', headers: { ...s.auth, 'accept-encoding': 'gzip' } });
    expect(listing.headers['content-encoding']).toBeUndefined();
    // /v1 takes plain JSON only, and says so instead of calling the body malformed.
    const v1 = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload: gzipSync('{}') });
    expect(v1.statusCode).toBe(415);
    expect(v1.json().error.message).toBe('Content-Encoding gzip is not supported on this route; send the JSON uncompressed');
  });
});
