import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/db.js';
import { fixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The whole path with ARTIFACT_STORE=s3://… against a real S3-compatible server on loopback. */
describe('serving from an S3 artifact store', () => {
  let s3: S3rver;
  let s: TestServer;
  beforeAll(async () => {
    s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: tempDir('s3rver-'), silent: true, configureBuckets: [{ name: 'ml-models', configs: [] }] });
    const { port } = await s3.run();
    // The AWS SDK's default credential chain reads these, as it would in production.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    s = await startTestServer({ dialect: 'postgres', env: { ARTIFACT_STORE: 's3://ml-models/modelgate/prod', S3_ENDPOINT: `http://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await s?.stop();
    await s3?.close();
  });

  it('registers into S3, loads from it with checksum verification, and serves', async () => {
    expect(s.ctx.artifacts.describe).toBe('s3://ml-models/modelgate/prod');
    const { onnx, expected } = fixture('telco_churn');
    const reg = await s.ctx.registry.register({ model: 'churn', onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'churn', target: 'production', version: reg.version, actor: 't' });
    await s.pool.refresh(true);
    const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'churn', payload: expected.rows[7] } });
    expect(res.statusCode).toBe(200);
    expect(Math.abs(res.json().score - expected.proba[7])).toBeLessThan(1e-5);
    const results = await s.ctx.registry.verify();
    expect(results).toEqual([{ model: 'churn', version: 1, ok: true, problems: [] }]);
  });
});

/**
 * The artifact store goes away, then a new version is promoted: the version already loaded keeps
 * serving every request, the pool retries the new one (after its 30 s backoff, advanced here on
 * an injected clock), and serves it once the store is back.
 */
describe('the artifact store unavailable when a version is promoted', () => {
  let s3: S3rver;
  let s: TestServer;
  let port = 0;
  const directory = tempDir('s3rver-');
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const startS3 = async (p: number) => {
    s3 = new S3rver({ port: p, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: 'ml-models', configs: [] }] });
    return (await s3.run()).port;
  };
  beforeAll(async () => {
    port = await startS3(0);
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    s = await startTestServer({ jobs: false, clock, env: { ARTIFACT_STORE: 's3://ml-models/outage', S3_ENDPOINT: `http://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await s?.stop();
    await s3?.close();
  });

  it('keeps serving the previous version, and serves the new one when the store returns', async () => {
    const { onnx, expected } = fixture('telco_churn');
    await s.ctx.registry.register({ model: 'churn', onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'churn', onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'churn', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    const infer = async () => {
      const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'churn', payload: expected.rows[3] } });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().version as number;
    };
    expect(await infer()).toBe(1);

    await s3.close();
    await s.ctx.registry.promote({ model: 'churn', target: 'production', version: 2, actor: 't' });
    await s.pool.refresh(true);
    const during = await Promise.all(Array.from({ length: 20 }, infer));
    expect(new Set(during)).toEqual(new Set([1]));
    // Polls before the backoff runs out do not hammer the store, and change nothing.
    await s.pool.refresh();
    expect(await infer()).toBe(1);

    await startS3(port);
    await s.pool.refresh();
    expect(await infer(), 'still within the 30 s backoff').toBe(1);
    offset += 31_000;
    await s.pool.refresh();
    expect(await infer()).toBe(2);
  });
});
