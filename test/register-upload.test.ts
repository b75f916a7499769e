import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel, fixture } from './helpers/fixtures.js';
import { aucByPairs } from './helpers/independent.js';
import { csvOf } from './helpers/retrain.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

/** A multipart/form-data body as a browser or curl -F sends it, serialised by the platform's own FormData. */
async function form(parts: Record<string, string | { file: Uint8Array | string; name: string; type?: string }>): Promise<{ body: Buffer; type: string }> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(parts)) {
    if (typeof v === 'string') fd.append(k, v);
    else fd.append(k, new Blob([v.file], { type: v.type ?? 'application/octet-stream' }), v.name);
  }
  const req = new Request('http://upload.invalid/', { method: 'POST', body: fd });
  return { body: Buffer.from(await req.arrayBuffer()), type: req.headers.get('content-type')! };
}

for (const dialect of DIALECTS) {
  describe(`registering over HTTP on ${dialect}`, () => {
    let s: TestServer;
    const reference = generateHotelBookings(400, 9);
    const referenceCsv = csvOf(reference);
    const upload = async (model: string, parts: Parameters<typeof form>[0], headers: Record<string, string> = {}) => {
      const f = await form(parts);
      const res = await s.app.inject({ method: 'POST', url: `/v1/models/${model}/versions`, headers: { ...s.auth, 'content-type': f.type, ...headers }, payload: f.body });
      return { status: res.statusCode, body: res.json() };
    };

    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
    });
    afterAll(async () => {
      await s?.stop();
    });

    it('takes the graph, a policy and a reference CSV profiled with its target, promotes it, and serves it at once', async () => {
      const r = await upload('upload-hotel', {
        onnx: { file: demo.onnx, name: 'hotel.onnx' },
        policy: 'threshold=0.4',
        reference: { file: referenceCsv, name: 'train.csv', type: 'text/csv' },
        target: 'is_canceled',
        promote: 'true',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({
        model: 'upload-hotel',
        version: 1,
        unchanged: false,
        promoted: true,
        warnings: [],
        reference: { rows: 400, skipped: 0 },
        policy: { type: 'threshold', threshold: 0.4 },
      });
      expect(r.body.onnx_sha256).toMatch(/^[0-9a-f]{64}$/);
      // The reference's AUC, against one computed here from the served scores of the same rows.
      const instances = Array.from({ length: reference.rows }, (_, i) => rowPayload(reference, i));
      const predicted = await s.app.inject({
        method: 'POST',
        url: '/v1/models/upload-hotel/predict',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ instances }),
      });
      expect(predicted.statusCode).toBe(200);
      const scores = (predicted.json().predictions as { score: number }[]).map((p) => p.score);
      const labels = (parse(referenceCsv, { columns: true }) as { is_canceled: string }[]).map((row) => Number(row.is_canceled));
      expect(r.body.reference.metrics.roc_auc).toBeCloseTo(aucByPairs(scores, labels), 6);
      // Promoted and loaded: the version answers /v1/infer with the uploaded policy.
      const infer = await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'upload-hotel', payload: instances[0] }),
      });
      expect(infer.statusCode).toBe(200);
      expect(infer.json()).toMatchObject({ version: 1, decision: scores[0] >= 0.4 ? 'act' : 'none' });
      const version = await s.app.inject({ method: 'GET', url: '/v1/models/upload-hotel/versions/1', headers: s.auth });
      expect(version.json()).toMatchObject({ created_by: 'admin-token', manifest: { reference: { rows: 400 } } });

      // The same again with if_changed (a deploy job run twice): nothing new.
      const again = await upload('upload-hotel', {
        onnx: { file: demo.onnx, name: 'hotel.onnx' },
        policy: 'threshold=0.4',
        reference: { file: referenceCsv, name: 'train.csv' },
        target: 'is_canceled',
        if_changed: 'true',
      });
      expect(again).toMatchObject({ status: 200, body: { model: 'upload-hotel', version: 1, unchanged: true, promoted: false } });
      // Another policy: a new version, and a warning that it decides other things than production.
      const bands = await upload('upload-hotel', { onnx: { file: demo.onnx, name: 'hotel.onnx' }, policy: 'bands=allow:0.3,review:0.7,block' });
      expect(bands).toMatchObject({ status: 200, body: { version: 2, promoted: false, reference: null } });
      expect(bands.body.warnings).toEqual([expect.stringMatching(/^version 2 decides allow, review, block and production \(version 1\) none, act: /)]);
    });

    it('refuses what it cannot register, saying what to send instead; nothing is registered', async () => {
      const graph = { file: demo.onnx, name: 'hotel.onnx' };
      expect(await upload('refused', { policy: 'threshold=0.5' })).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/^no onnx part: send the graph as the file part onnx, e\.g\. curl /) } },
      });
      expect(await upload('refused', { onnx: graph, policy: 'threshold=abc' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/^policy: "threshold=abc": /) } } });
      expect(await upload('refused', { onnx: graph, policy: 'threshold=2' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/bounds are between 0 and 1$/) } } });
      expect(await upload('refused', { onnx: graph, task: 'ranking' })).toMatchObject({ status: 400, body: { error: { message: 'task "ranking": expected one of binary, multiclass, regression' } } });
      expect(await upload('refused', { onnx: graph, target: 'is_canceled' })).toMatchObject({
        status: 400,
        body: { error: { message: 'target names a column of the reference CSV; send the reference part too' } },
      });
      expect(await upload('refused', { onnx: graph, promote: 'yes' })).toMatchObject({ status: 400, body: { error: { message: 'promote: "yes" is not true or false' } } });
      expect(await upload('refused', { onnx: graph, threshold: '0.4' })).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/^unknown field "threshold": the fields are task, policy, /) } },
      });
      expect(await upload('refused', { onnx: { file: 'not a graph', name: 'x.onnx' } })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_MODEL' } } });
      // The registry's words for the CLI's flags become the form's fields.
      const { fixture } = await import('./helpers/fixtures.js');
      const matrix = await upload('refused', { onnx: { file: fixture('telco_numeric').onnx, name: 'm.onnx' } });
      expect(matrix.status).toBe(400);
      expect(matrix.body.error.message).toMatch(/name its columns with feature_names a,b,c or feature_names in the manifest$/);
      expect(await upload('refused', { onnx: graph, manifest: '{"description": ' })).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/^manifest is not valid JSON: /) } },
      });
      // A reference whose rows cannot be scored refuses the upload, in the form's words (and never the server's temporary path).
      const lines = referenceCsv.split('\n');
      lines[1] = lines[1].replace(/City Hotel|Resort Hotel/, '');
      const refused = await upload('refused', { onnx: graph, reference: { file: lines.join('\n'), name: 'bad.csv' } });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/^the reference part \(bad\.csv\): 1 of 400 rows cannot be scored \(/);
      expect(refused.body.error.message).toMatch(/register the model with missing_category\), or pass allow_skipped=true to profile the other rows$/);
      const columns = await upload('refused', { onnx: graph, reference: { file: 'lead_time,adr\n1,2\n', name: 'cols.csv' } });
      expect(columns.status).toBe(400);
      expect(columns.body.error.message).toMatch(/^the reference part \(cols\.csv\): no column for features /);
      expect(columns.body.error.message).not.toMatch(/modelgate-upload-/);
      // JSON is not an upload.
      const json = await s.app.inject({ method: 'POST', url: '/v1/models/refused/versions', headers: { ...s.auth, 'content-type': 'application/json' }, payload: '{"onnx": "…"}' });
      expect(json.statusCode).toBe(415);
      expect(json.json().error.message).toMatch(/^send the graph as multipart\/form-data with the file part onnx, not application\/json: curl /);
      // A field busboy would cut short is refused, not registered cut.
      const long = await upload('refused', { onnx: graph, feature_names: Array.from({ length: 9000 }, (_, i) => `feature_${i}`).join(',') });
      expect([long.status, long.body.error.message]).toEqual([413, 'field feature_names is over 64 KiB']);
      // The form itself wrong: a part twice, a body cut short.
      const twice = new FormData();
      twice.append('onnx', new Blob([demo.onnx]), 'a.onnx');
      twice.append('onnx', new Blob([demo.onnx]), 'b.onnx');
      const twiceReq = new Request('http://upload.invalid/', { method: 'POST', body: twice });
      const dup = await s.app.inject({
        method: 'POST',
        url: '/v1/models/refused/versions',
        headers: { ...s.auth, 'content-type': twiceReq.headers.get('content-type')! },
        payload: Buffer.from(await twiceReq.arrayBuffer()),
      });
      expect([dup.statusCode, dup.json().error.message]).toEqual([400, 'onnx is given twice: send each part once']);
      const whole = await form({ onnx: graph, policy: 'threshold=0.4' });
      const cut = await s.app.inject({
        method: 'POST',
        url: '/v1/models/refused/versions',
        headers: { ...s.auth, 'content-type': whole.type },
        payload: whole.body.subarray(0, whole.body.length - 60),
      });
      expect(cut.statusCode).toBe(400);
      expect(cut.json().error.message).toMatch(/^the multipart body could not be read \(.+\); send it as curl -F or a browser's FormData does$/);
      const raw = await s.app.inject({ method: 'POST', url: '/v1/models/refused/versions', headers: { ...s.auth, 'content-type': 'application/octet-stream' }, payload: Buffer.from(demo.onnx) });
      expect(raw.statusCode).toBe(415);
      expect(raw.json().error.message).toMatch(/^send the graph as multipart\/form-data with the file part onnx: curl /);
      // Without credentials: 401 before anything is read.
      const f = await form({ onnx: graph });
      const anonymous = await s.app.inject({ method: 'POST', url: '/v1/models/refused/versions', headers: { 'content-type': f.type }, payload: f.body });
      expect(anonymous.statusCode).toBe(401);
      expect((await s.app.inject({ method: 'GET', url: '/v1/models/refused', headers: s.auth })).statusCode).toBe(404);
    });

    it('promote of a graph that takes none of production’s inputs: registered, not promoted, and the promotion alone says the acceptance it needs', async () => {
      expect((await upload('upload-mixup', { onnx: { file: demo.onnx, name: 'hotel.onnx' }, promote: 'true' })).status).toBe(200);
      const r = await upload('upload-mixup', { onnx: { file: fixture('telco_churn').onnx, name: 'telco.onnx' }, promote: 'true' });
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.error.message).toMatch(/^upload-mixup version 2 is registered, but not production: version 2 of upload-mixup takes none of version 1's features /);
      expect(r.body.error.message).toMatch(/ The promotion alone, when ready: POST \/v1\/models\/upload-mixup\/promote \{"version": 2, "accept_new_inputs": true\}$/);
      expect(r.body.error.details).toMatchObject({ version: 2, field: 'accept_new_inputs' });
      const model = (await s.app.inject({ method: 'GET', url: '/v1/models/upload-mixup', headers: s.auth })).json();
      expect(model.aliases).toEqual({ production: 1 });
      expect(model.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
      // The promotion it names goes through.
      const promoted = await s.app.inject({ method: 'POST', url: '/v1/models/upload-mixup/promote', headers: s.auth, payload: { version: 2, accept_new_inputs: true } });
      expect(promoted.statusCode, promoted.body).toBe(200);
      expect(promoted.json().version).toBe(2);
    });

    it('/docs describes the form: its file parts and fields', async () => {
      const doc = (await s.app.inject({ method: 'GET', url: '/docs/json' })).json();
      const body = doc.paths['/v1/models/{name}/versions'].post.requestBody.content['multipart/form-data'].schema;
      expect(body.required).toEqual(['onnx']);
      expect(body.properties.onnx).toMatchObject({ type: 'string', format: 'binary' });
      expect(Object.keys(body.properties).sort()).toEqual([
        'allow_skipped',
        'feature_names',
        'if_changed',
        'manifest',
        'missing_category',
        'onnx',
        'policy',
        'positive_class',
        'promote',
        'reference',
        'target',
        'task',
      ]);
    });
  });
}

describe("an upload's limits", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false, listen: true, env: { MAX_MODEL_BYTES: '1024', UPLOAD_MAX_BYTES: '4096' } });
  });
  afterAll(async () => {
    await s?.stop();
  });
  const send = async (parts: Parameters<typeof form>[0]) => {
    const f = await form(parts);
    const res = await s.app.inject({ method: 'POST', url: '/v1/models/big/versions', headers: { ...s.auth, 'content-type': f.type }, payload: f.body });
    return { status: res.statusCode, message: res.json().error?.message as string | undefined };
  };

  it('a graph over MAX_MODEL_BYTES, or a reference over UPLOAD_MAX_BYTES, is refused with 413 as it streams in, naming the setting', async () => {
    expect(demo.onnx.length).toBeGreaterThan(1024);
    expect(await send({ onnx: { file: demo.onnx, name: 'hotel.onnx' } })).toEqual({
      status: 413,
      message: 'the onnx part is over MAX_MODEL_BYTES (1024 bytes); raise MAX_MODEL_BYTES on the server if the graph is meant to be this large',
    });
    // The reference first in the form: refused before the graph is read.
    const reference = csvOf(generateHotelBookings(100, 3));
    expect(reference.length).toBeGreaterThan(4096);
    expect(await send({ reference: { file: reference, name: 'train.csv' }, onnx: { file: demo.onnx, name: 'hotel.onnx' } })).toEqual({
      status: 413,
      message:
        "the reference part is over UPLOAD_MAX_BYTES (4096 bytes); send a sample of it (its profile needs no more than some 100,000 rows), register it with the CLI where the file is, or raise UPLOAD_MAX_BYTES on the server together with the size of its temporary directory (the pod's /tmp)",
    });
  });

  it('one upload at a time: a second while the first streams in is answered 503 with Retry-After, and goes through after it', async () => {
    const { PassThrough } = await import('node:stream');
    const f = await form({ policy: 'threshold=0.4', onnx: { file: 'x'.repeat(100), name: 'slow.onnx' } });
    // The first upload: the start of its body given, the rest held back.
    const body = new PassThrough();
    body.write(f.body.subarray(0, 40));
    const first = s.app.inject({ method: 'POST', url: '/v1/models/slow/versions', headers: { ...s.auth, 'content-type': f.type, 'content-length': String(f.body.length) }, payload: body });
    let firstDone: string | undefined;
    void first.then((r) => (firstDone = `${r.statusCode} ${r.body}`));
    // A form with no graph: 400 once nothing else is uploading; 503 while the first is.
    let second = { status: 0, message: undefined as string | undefined };
    await expect
      .poll(
        async () => {
          second = await send({ policy: 'threshold=0.4' });
          return [second.status, firstDone];
        },
        { timeout: 30_000, interval: 50 },
      )
      .toEqual([503, undefined]);
    expect(second.message).toBe('another upload (slow, by admin-token) is being registered on this server: send this one again when it is done, or to another replica');
    body.end(f.body.subarray(40));
    const done = await first;
    // Not a graph: refused by the registry, after which the next upload is taken.
    expect([done.statusCode, done.json().error.code]).toEqual([400, 'INVALID_MODEL']);
    expect(await send({ policy: 'threshold=0.4' })).toMatchObject({ status: 400, message: expect.stringMatching(/^no onnx part/) });
  });
});
