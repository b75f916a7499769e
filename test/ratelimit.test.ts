import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { REDIS_URL } from './helpers/redis.js';
import { serveEnv, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const demo = demoModel();
const row = rowPayload(demo.holdout.data, 0);

describe('rate limits over HTTP (one process, in memory)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ env: { RATE_LIMIT_DEFAULT: '4/10s', MODELGATE_SERVICE_TOKENS: 'service-token-0123456789abc' } });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  const infer = (token: string) =>
    s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload: row }) });
  const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) =>
    s.app.inject({ method, url, headers: { ...s.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });

  it("a key's own rate: over it, 429 with Retry-After and the IETF RateLimit fields", async () => {
    const { key, token } = (await admin('POST', '/v1/keys', { name: 'burst', scopes: ['infer'], rate: '3/10s' })).json() as { key: { id: string }; token: string };
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await infer(token));
    expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 429, 429]);
    expect(replies[0].headers['ratelimit-policy']).toBe('"per-key";q=3;w=10');
    expect(replies[0].headers['ratelimit']).toMatch(/^"per-key";r=2;t=([1-9]|10)$/);
    expect(replies[2].headers['ratelimit']).toMatch(/^"per-key";r=0;t=/);
    const limited = replies[3];
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect(limited.json().error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('3/10s') });
    const state = (await admin('GET', `/v1/keys/${key.id}/ratelimit`)).json();
    expect(state).toMatchObject({ key: key.id, backend: 'memory', limit: 3, window_ms: 10_000, remaining: 0 });
    const reset = (await admin('DELETE', `/v1/keys/${key.id}/ratelimit`)).json();
    expect(reset).toMatchObject({ used: 0, remaining: 3 });
    expect((await infer(token)).statusCode).toBe(200);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`modelgate_rate_limited_total{key="${key.id}"} 2`);
  });

  it('keys without a rate, and service tokens, get RATE_LIMIT_DEFAULT; the admin token is never limited', async () => {
    const { token } = (await admin('POST', '/v1/keys', { name: 'default', scopes: ['infer'] })).json() as { token: string };
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await infer(token)).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 429, 429]);
    const svc = [];
    for (let i = 0; i < 5; i++) svc.push((await infer('service-token-0123456789abc')).statusCode);
    expect(svc).toEqual([200, 200, 200, 200, 429]);
    const adminCodes = [];
    for (let i = 0; i < 8; i++) adminCodes.push((await infer(TOKEN)).statusCode);
    expect(adminCodes.every((c) => c === 200)).toBe(true);
    // The list says which rate a key without one gets here (the console shows it).
    const listed = (await admin('GET', '/v1/keys')).json() as { default_rate: string | null; keys: { name: string; rate_limit: string | null }[] };
    expect([listed.default_rate, listed.keys.find((k) => k.name === 'default')?.rate_limit]).toEqual(['4/10s', null]);
  });

  it('one key being limited does not limit another', async () => {
    const a = (await admin('POST', '/v1/keys', { name: 'a', scopes: ['infer'], rate: '1/10s' })).json() as { token: string };
    const b = (await admin('POST', '/v1/keys', { name: 'b', scopes: ['infer'], rate: '1/10s' })).json() as { token: string };
    expect((await infer(a.token)).statusCode).toBe(200);
    expect((await infer(a.token)).statusCode).toBe(429);
    expect((await infer(b.token)).statusCode).toBe(200);
  });
});

describe('two server processes on one Redis share each limit', () => {
  const dataDir = tempDir();
  const env = serveEnv(dataDir, {
    REDIS_URL,
    // Fail closed: on a loaded machine a check can outlast the limiter's own Redis timeout, and
    // failing open then admits a request Redis would have refused (a run beside another npm test
    // admitted 10.8 % over the limit that way). Closed, such a request gets a 503 instead, so the
    // limit itself is what this test measures.
    RATE_LIMIT_FAIL: 'closed',
  });
  const servers: ServeProcess[] = [];
  let token = '';
  let keyId = '';
  beforeAll(async () => {
    const ctx = await openContext(loadConfig(env), createLogger('silent'));
    await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    const created = await ctx.access.create({ name: 'shared', scopes: ['infer'], rate: '100/s', actor: 't' });
    token = created.token;
    keyId = created.key.id;
    await ctx.close();
    servers.push(...(await Promise.all([startServeProcess(env), startServeProcess(env)])));
  }, 60_000);
  afterAll(() => {
    for (const s of servers) (s.child as ChildProcess).kill('SIGKILL');
  });

  it('the combined admitted rate is never over the limit, and within 2% of it while requests press on it', async () => {
    const body = JSON.stringify({ model: 'hotel', payload: row });
    const admitted: number[] = [];
    const unavailable: number[] = [];
    const refusedAt: number[] = [];
    let refused = 0;
    const failed: string[] = [];
    const start = Date.now();
    // 20 s of load, 18 s counted: a stall of a few hundred ms on a loaded machine (late responses at
    // either edge of the span, or a moment when no request reached the limiter) then moves the
    // count by about 1 %, not 3 %.
    const until = start + 20_000;
    // 16 clients, alternating servers, each sending a request every 60 ms (about 270 a second,
    // 2.7 times the limit): paced, so the load keeps pressing on the limit without taking both
    // cores from the other test files for 20 s, as clients sending as fast as they could did. A
    // client that falls behind (a stalled machine) sends its next request at once.
    const every = 60;
    await Promise.all(
      Array.from({ length: 16 }, async (_, c) => {
        for (let i = 0; Date.now() < until; i++) {
          const due = start + (c * every) / 16 + i * every;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          const s = servers[(c + i) % 2];
          const res = await fetch(`${s.url}/v1/infer`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
          const text = await res.text();
          if (res.status === 200) admitted.push(Date.now() - start);
          else if (res.status === 429) {
            refused++;
            refusedAt.push(Date.now() - start);
          }
          // The check outlasted the limiter's Redis timeout (fail closed): Redis may still have counted it.
          else if (res.status === 503 && text.includes('rate limits cannot be checked')) unavailable.push(Date.now() - start);
          else failed.push(`${res.status} ${text}`);
        }
      }),
    );
    expect(failed).toEqual([]);
    // Really over the limit all along (at least 20 % more offered than admitted, even when the machine is busy with other test files).
    expect(refused).toBeGreaterThan(admitted.length * 0.2);
    // Steady state: the 18 s after the first window settles admit at most 100/s × 18 s, whatever
    // the machine does. At least: the limit is owed only while requests press on it. On a machine
    // busy with other test files the clients here stall now and then (a run beside another
    // npm test and Chromium admitted 1,738 of 1,800, 3.4 % short, with refusals all along
    // otherwise), so the lower bound counts the 50 ms slices in which some request was refused:
    // there demand exceeded the limit, and a limiter that admits less than 100/s over them is wrong.
    const inSpan = admitted.filter((t) => t >= 1500 && t < 19_500).length;
    const timedOut = unavailable.filter((t) => t >= 1500 && t < 19_500).length;
    const pressed = new Set(refusedAt.filter((t) => t >= 1500 && t < 19_500).map((t) => Math.floor(t / 50))).size;
    const detail = `admitted ${inSpan} in 18 s, ${refused} refused, ${timedOut} timed out, requests pressing on the limit in ${pressed} of 360 slices of 50 ms`;
    expect(inSpan, detail).toBeLessThanOrEqual(1800 * 1.02);
    expect(inSpan + timedOut, detail).toBeGreaterThanOrEqual(100 * (pressed * 0.05) * 0.98);
    const shown = await runCli(['ratelimit', 'show', '--key', keyId, '--json'], env);
    expect(shown.code, shown.stdout).toBe(0);
    expect(shown.json()).toMatchObject({ key: keyId, backend: 'redis', limit: 100, window_ms: 1000 });
    const reset = await runCli(['ratelimit', 'reset', '--key', keyId, '--json'], env);
    expect(reset.json()).toMatchObject({ used: 0, remaining: 100 });
  }, 60_000);
});

describe('modelgate ratelimit without Redis', () => {
  it('says that in-memory limits live in the server, and how to read them', async () => {
    const r = await runCli(['ratelimit', 'show', '--key', 'key_x'], { MODELGATE_DATA_DIR: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/REDIS_URL is not set.*GET \/v1\/keys\/ID\/ratelimit/);
  });
});
