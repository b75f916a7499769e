import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const EXPECTED = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

describe('security headers', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
  });
  afterAll(() => s?.stop());

  const cases: [string, string, Record<string, string>, unknown, number][] = [
    ['a health check', '/healthz', {}, undefined, 200],
    ['metrics', '/metrics', {}, undefined, 200],
    ['an authenticated read', '/v1/models', { authorization: `Bearer ${TOKEN}` }, undefined, 200],
    ['a missing token', '/v1/models', {}, undefined, 401],
    ['an unknown route', '/nope', { authorization: `Bearer ${TOKEN}` }, undefined, 404],
    ['an invalid body', '/v1/infer', { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, '{"payload":', 400],
    ['an unknown model', '/v1/infer', { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, '{"model":"absent","payload":{}}', 404],
  ];
  for (const [what, url, headers, body, status] of cases) {
    it(`on ${what} (${status})`, async () => {
      const res = await s.app.inject({ method: body === undefined ? 'GET' : 'POST', url, headers, ...(body === undefined ? {} : { payload: body as string }) });
      expect(res.statusCode).toBe(status);
      expect(res.headers).toMatchObject(EXPECTED);
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    });
  }

  it('on the OpenAPI pages, without the content policy their scripts would break', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject(EXPECTED);
    expect(res.headers['content-security-policy']).toBeUndefined();
  });
});
