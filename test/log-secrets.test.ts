import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.js';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const demo = demoModel();

/**
 * What a server logs at info (the default level) while it is handed every kind of secret and
 * payload: the log must hold none of them. Each marker below is sent somewhere a careless log
 * line would pick it up — headers, bodies, error messages that quote their input.
 */
describe('logs at info level hold no token, key, secret or payload value', () => {
  let s: TestServer;
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  beforeAll(async () => {
    s = await startTestServer({ env: { LOG_LEVEL: 'info' }, log: createLogger('info', sink) });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  it('after authenticated, refused, malformed and failing requests', async () => {
    const call = (method: 'GET' | 'POST', url: string, token: string | undefined, payload?: string) =>
      s.app.inject({
        method,
        url,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(payload !== undefined ? { payload } : {}),
      });
    const created = (await call('POST', '/v1/keys', TOKEN, JSON.stringify({ name: 'logs', scopes: ['infer'] }))).json() as { token: string };
    expect(created.token).toMatch(/^mg_/);
    const row = { ...rowPayload(demo.holdout.data, 0), customer_type: 'PAYLOADMARKER-category', extra_note: 'PAYLOADMARKER-unknown-field' };
    const scored = await call('POST', '/v1/infer', created.token, JSON.stringify({ model: 'hotel', event_id: 'evt-1', payload: row }));
    expect(scored.statusCode).toBe(200);
    // A token in a query string: the access line (which skips redaction) logs the path only.
    expect((await call('GET', '/v1/models?api_key=WRONGTOKENMARKER-query', TOKEN)).statusCode).toBe(200);
    const rejected = await call('POST', '/v1/infer', created.token, JSON.stringify({ model: 'hotel', payload: { ...row, lead_time: 'PAYLOADMARKER-not-a-number' } }));
    expect(rejected.statusCode).toBe(400);
    expect((await call('POST', '/v1/infer', created.token, '{"model":"hotel","payload":{"x":"PAYLOADMARKER-malformed"')).statusCode).toBe(400);
    expect((await call('POST', '/v1/infer', created.token, 'PAYLOADMARKER-not-json')).statusCode).toBe(400);
    expect((await call('GET', '/v1/models', 'mg_WRONGTOKENMARKER0000000000000000000000000')).statusCode).toBe(401);
    expect((await call('GET', '/v1/models', 'WRONGTOKENMARKER-plain')).statusCode).toBe(401);
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect((await call('POST', '/v1/webhooks', TOKEN, JSON.stringify({ url: 'http://127.0.0.1:19999/hook', secret }))).statusCode).toBe(200);
    await s.audit.flush();
    await new Promise((r) => setImmediate(r));

    const lines = text.split('\n').filter(Boolean);
    // The run did log: one access line per request at least, so an empty log cannot pass.
    expect(lines.filter((l) => l.includes('"request completed"')).length).toBeGreaterThanOrEqual(8);
    // The access line names the request as its reply did, with these fields and no others.
    const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request completed' && l.request_id === scored.headers['x-request-id']);
    expect(access).toMatchObject({ level: 'info', service: 'modelgate', method: 'POST', url: '/v1/infer', status: 200 });
    // Its duration in ms to the µs: at most three decimals, as written.
    const accessText = lines.find((l) => l.includes('"request completed"') && l.includes(`"request_id":"${scored.headers['x-request-id']}"`));
    expect(accessText).toMatch(/"ms":\d+(\.\d{1,3})?[,}]/);
    expect(access?.ms).toBeGreaterThan(0);
    // A request that logs through its own logger (made on first use) is named on that line too.
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.find((l) => l.msg === 'request rejected' && l.request_id === rejected.headers['x-request-id'])).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(Object.keys(access!).sort()).toEqual(['level', 'method', 'ms', 'msg', 'request_id', 'service', 'status', 'time', 'url']);
    for (const marker of [TOKEN, created.token, created.token.slice(3, 20), 'WRONGTOKENMARKER', 'WRONGTOKE', 'PAYLOADMA', secret, secret.slice(6)]) {
      expect(
        lines.filter((l) => l.includes(marker)),
        `log lines containing ${marker}`,
      ).toEqual([]);
    }
  });
});
