import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.js';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN } from './helpers/server.js';

const row = rowPayload(demoModel().holdout.data, 0);

/**
 * ACCESS_LOG: one info line per request is the largest optional cost of a request (about 12 % of
 * throughput, docs/performance.md) and most of a busy server's log; `errors` keeps the answers
 * worth reading, `off` none, while the other info lines (registrations, promotions) stay.
 */
describe('ACCESS_LOG', () => {
  /** Serves a 200, a 401, a 404 and a 400 under the setting; the log's lines as objects. */
  async function logOf(accessLog: string | undefined): Promise<{ msg: string; status?: number; url?: string }[]> {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const s = await startTestServer({ env: { LOG_LEVEL: 'info', ...(accessLog ? { ACCESS_LOG: accessLog } : {}) }, log: createLogger('info', sink) });
    try {
      await serveDemo(s);
      const headers = { authorization: `Bearer ${TOKEN}` };
      expect((await s.app.inject({ method: 'POST', url: '/v1/infer', headers, payload: { model: 'hotel', payload: row } })).statusCode).toBe(200);
      expect((await s.app.inject({ method: 'POST', url: '/v1/infer', payload: { model: 'hotel', payload: row } })).statusCode).toBe(401);
      expect((await s.app.inject({ method: 'GET', url: '/v1/nowhere', headers })).statusCode).toBe(404);
      expect((await s.app.inject({ method: 'POST', url: '/v1/infer', headers, payload: { payload: row } })).statusCode).toBe(400);
    } finally {
      await s.stop();
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; status?: number; url?: string });
  }
  const access = (lines: { msg: string; status?: number }[]) => lines.filter((l) => l.msg === 'request completed').map((l) => l.status);

  it('on (the default): every request', async () => {
    const lines = await logOf(undefined);
    expect(access(lines)).toEqual([200, 401, 404, 400]);
    expect(await logOf('on').then(access)).toEqual([200, 401, 404, 400]);
  });

  it('errors: only answers of 400 and above; off: none; the other info lines stay in both', async () => {
    const errors = await logOf('errors');
    expect(access(errors)).toEqual([401, 404, 400]);
    const off = await logOf('off');
    expect(access(off)).toEqual([]);
    for (const lines of [errors, off]) expect(lines.map((l) => l.msg)).toContain('model version registered');
  });
});
