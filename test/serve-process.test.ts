import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, wildcardHost } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { CLI_MAIN, demoModel, REPO_ROOT } from './helpers/fixtures.js';
import { TOKEN } from './helpers/server.js';
import { freePort } from './helpers/redis.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

/** `modelgate serve` as a real process: workers, readiness, graceful SIGTERM. */
describe('modelgate serve process', () => {
  const dataDir = tempDir();
  const env = { MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: TOKEN, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  const row = rowPayload(demoModel().holdout.data, 0);
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    const ctx = await openContext(loadConfig(env), createLogger('silent'));
    await ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await ctx.close();
  });
  let db: ThrowawayPostgres | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    db?.destroy();
    db = undefined;
  });

  const serve = (extra: Record<string, string>) =>
    new Promise<{ url: string; workers: number[] }>((resolve, reject) => {
      child = spawn(process.execPath, [CLI_MAIN, 'serve', '--json'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', ...env, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        output += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{"url"'));
        if (line) resolve(JSON.parse(line));
      });
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      child.on('exit', (code) => reject(new Error(`serve exited early with ${code}: ${output}`)));
    });

  const infer = (url: string) =>
    fetch(`${url}/v1/infer`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hotel', payload: row }) });

  it('HOST unset: every address, IPv6 (an IPv6-only cluster reaches the pod) as well as IPv4', async () => {
    const { url } = await serve({ HOST: '' });
    const port = new URL(url).port;
    const ipv6 = wildcardHost() === '::';
    expect(new URL(url).hostname).toBe(ipv6 ? '[::]' : '0.0.0.0');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    // On a machine without IPv6 there is no ::1 to try; the IPv4 answer above is what it gets.
    if (ipv6) expect((await fetch(`http://[::1]:${port}/health`)).status).toBe(200);
  });

  it('HOST unset with WORKERS=2: the address printed is a URL that answers', async () => {
    const { url } = await serve({ HOST: '', WORKERS: '2' });
    expect(new URL(url).hostname).toBe(wildcardHost() === '::' ? '[::]' : '0.0.0.0');
    expect((await fetch(`http://127.0.0.1:${new URL(url).port}/health`)).status).toBe(200);
  });

  it('WORKERS=2 starts two worker processes sharing one port; a misspelt variable is logged once, not once a worker', async () => {
    const { url, workers } = await serve({ WORKERS: '2', AUDIT_FLUSH: '5' });
    expect(new Set(workers).size).toBe(2);
    const statuses = await Promise.all(Array.from({ length: 40 }, () => infer(url).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(((await (await fetch(`${url}/readyz`)).json()) as { ready: boolean }).ready).toBe(true);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    const warned = output.split('\n').filter((l) => l.includes('AUDIT_FLUSH is set'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0])).toMatchObject({ level: 'warn', msg: expect.stringContaining('did you mean AUDIT_FLUSH_MS?') });
    // No rate limit is set, so nothing is said about how workers count them.
    expect(output).not.toContain('rate limits are counted by each');
  });

  it('WORKERS=2 with a rate limit and no Redis says once that each worker counts on its own', async () => {
    const before = output.length;
    await serve({ WORKERS: '2', RATE_LIMIT_DEFAULT: '1000/s' });
    const warned = output
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('rate limits are counted by each'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0])).toMatchObject({ level: 'warn', msg: expect.stringContaining('a key may make up to 2 × its rate; set REDIS_URL to share one count') });
  });

  it('WORKERS=2 on a port already in use: exits 1 with the reason, instead of replacing workers that cannot start', async () => {
    const holder = http.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = String((holder.address() as AddressInfo).port);
    try {
      // Before the fix the primary forked a replacement for each failed worker, for ever, until the timeout's SIGTERM (exit 0).
      const r = await runCli(['serve'], { ...env, WORKERS: '2', PORT: port, LOG_LEVEL: 'info' }, { timeoutMs: 40_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: another process (another modelgate?) already uses the port`);
      const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
      expect(lines.filter((l) => l.includes('starting a replacement'))).toEqual([]);
      expect(lines.some((l) => l.includes('a worker exited before it could serve; stopping the others and exiting'))).toBe(true);
    } finally {
      holder.close();
    }
  });

  /** A request on a connection of its own, so the cluster's round robin spreads them over workers. */
  const fresh = (url: string, method: string, p: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${url}${p}`, { method, agent: false, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  /** Sum of every sample of a metric family (all label sets) in Prometheus text. */
  const total = (text: string, name: string, filter = '') =>
    text
      .split('\n')
      .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(filter))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

  it('WORKERS=2: /metrics reports the whole server from any worker, and keeps answering when a worker is killed', async () => {
    const { url, workers } = await serve({ WORKERS: '2' });
    const n = 24;
    for (let i = 0; i < n; i++) {
      const r = await fresh(url, 'POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: 50 + i } });
      expect(r.status).toBe(200);
    }
    for (let scrape = 0; scrape < 6; scrape++) {
      const text = (await fresh(url, 'GET', '/metrics')).text;
      expect(total(text, 'modelgate_predictions_total')).toBe(n);
      expect(total(text, 'http_request_duration_seconds_count', 'route="/v1/infer"')).toBe(n);
      // Shared state once, not once per worker.
      expect(total(text, 'modelgate_model_loaded', 'alias="production"')).toBe(1);
      expect(total(text, 'modelgate_workers')).toBe(2);
    }
    process.kill(workers[0], 'SIGKILL');
    let text = '';
    for (const until = Date.now() + 60_000; Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await fresh(url, 'GET', '/metrics').catch(() => undefined);
      if (r?.status === 200 && total(r.text, 'modelgate_workers') === 2) {
        text = r.text;
        break;
      }
    }
    expect(total(text, 'modelgate_worker_restarts_total')).toBe(1);
    const m = 10;
    for (let i = 0; i < m; i++) expect((await fresh(url, 'POST', '/v1/infer', { model: 'hotel', payload: { ...row, adr: 500 + i } })).status).toBe(200);
    text = (await fresh(url, 'GET', '/metrics')).text;
    // The killed worker's counts went with it; the survivor's and the replacement's are summed.
    const after = total(text, 'modelgate_predictions_total');
    expect(after).toBeGreaterThanOrEqual(m + 1);
    expect(after).toBeLessThan(n + m);
    expect(total(text, 'modelgate_metrics_workers_missing')).toBe(0);
  });

  it('WORKERS=2: /health covers both workers from either; a blocked worker makes it degraded, named by its pid', async () => {
    const { url, workers } = await serve({ WORKERS: '2' });
    const pids = [...workers].sort((a, b) => a - b);
    /** /health on a new connection; undefined when the worker it lands on does not answer in time. */
    const health = () =>
      new Promise<{ status: string; workers?: { pid: number; status: string }[] } | undefined>((resolve, reject) => {
        const req = http.get(`${url}/health`, { agent: false, timeout: 6000 }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(JSON.parse(text)));
        });
        req.on('timeout', () => {
          req.destroy();
          resolve(undefined);
        });
        req.on('error', reject);
      });
    for (let i = 0; i < 4; i++) {
      const body = await health();
      expect(body).toMatchObject({ status: 'healthy', workers: pids.map((pid) => ({ pid, status: 'healthy', model_loaded: true })) });
    }
    // Stopped, a worker answers neither the primary nor the connections handed to it.
    const blocked = workers[1];
    process.kill(blocked, 'SIGSTOP');
    try {
      let body: Awaited<ReturnType<typeof health>>;
      for (let tries = 0; !body && tries < 6; tries++) body = await health();
      expect(body?.status).toBe('degraded');
      expect(body?.workers).toEqual(pids.map((pid) => (pid === blocked ? { pid, status: 'unanswered' } : { pid, status: 'healthy', model_loaded: true })));
    } finally {
      process.kill(blocked, 'SIGCONT');
    }
    expect((await health())?.status).toBe('healthy');
  });

  it('SIGTERM lets in-flight requests finish, then exits 0', async () => {
    output = '';
    const { url } = await serve({ WORKERS: '1', SHUTDOWN_DELAY_MS: '3000', LOG_LEVEL: 'info' });
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const batch = JSON.stringify({ instances: Array(1000).fill(row) });
    const predict = () =>
      fetch(`${url}/v1/models/hotel/predict`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: batch }).then(
        (r) => r.status,
        () => 'refused',
      );
    // Open the client's keep-alive connections first, so the wave travels on accepted connections.
    expect(await Promise.all(Array.from({ length: 12 }, () => infer(url).then((r) => r.status)))).toEqual(Array(12).fill(200));
    const wave = Array.from({ length: 12 }, predict);
    // Once the first answer is back the rest are on open connections, queued or running: stop now.
    await Promise.race(wave);
    child!.kill('SIGTERM');
    // Draining: still serving, but no longer ready. The signal is handled on the event loop,
    // which may first finish the batches queued ahead of it, so readiness is polled.
    let ready = await fetch(`${url}/readyz`);
    for (const until = Date.now() + 2500; ready.status !== 503 && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await fetch(`${url}/readyz`);
    }
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, reasons: ['shutting down'] });
    const statuses = await Promise.all(wave);
    expect(await exited, output).toBe(0);
    expect(statuses.join(',')).toBe(Array(12).fill(200).join(','));
    // The last log line says it stopped, not only that it began draining.
    const logLines = output.split('\n').filter((l) => l.startsWith('{"level"'));
    expect(JSON.parse(logLines[logLines.length - 1])).toMatchObject({ level: 'info', msg: expect.stringMatching(/^stopped: /), signal: 'SIGTERM' });
  });

  it('an unreachable database: alive but not ready, retrying with a clear log line, ready once the database appears', async () => {
    const pgPort = await freePort();
    const httpPort = await freePort();
    const base = `http://127.0.0.1:${httpPort}`;
    output = '';
    child = spawn(process.execPath, [CLI_MAIN, 'serve'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env, PORT: String(httpPort), DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/postgres`, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const get = (p: string) =>
      fetch(`${base}${p}`).then(
        async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { reasons: string[]; error?: { code: string; message: string } } }),
        () => undefined,
      );
    // While the database is down: alive, not ready, saying why; other routes 503 in the error model.
    let waiting = await get('/readyz');
    for (const until = Date.now() + 30_000; waiting?.status !== 503 && Date.now() < until; await new Promise((r) => setTimeout(r, 200))) waiting = await get('/readyz');
    expect(waiting?.body.reasons[0]).toMatch(/^database unreachable: cannot use the database at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres \(ECONNREFUSED/);
    expect((await get('/healthz'))?.status).toBe(200);
    // Retry-After: the seconds until the next try to start (1, 2, 4, … up to 10).
    const refused = await get('/v1/models');
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    expect(refused?.retryAfter).toMatch(/^([1-9]|10)$/);
    // A caller's request id is kept as the server proper keeps it; one that is not sane is replaced.
    for (const [sent, kept] of [
      ['trace-7f3a.b_2', true],
      ['x'.repeat(129), false],
      ['a,b', false],
    ] as const) {
      const r = await fetch(`${base}/v1/models`, { headers: { 'x-request-id': sent } });
      const id = ((await r.json()) as { error: { request_id: string } }).error.request_id;
      expect(r.headers.get('x-request-id')).toBe(id);
      if (kept) expect(id).toBe(sent);
      else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
    expect(output).toMatch(/cannot start: .*; not ready, retrying in 1 s/);
    expect(child.exitCode).toBeNull();
    // The database appears: the server starts without a restart.
    db = await ThrowawayPostgres.create(pgPort);
    let ready = await get('/readyz');
    for (const until = Date.now() + 90_000; ready?.status !== 200 && child.exitCode === null && Date.now() < until; await new Promise((r) => setTimeout(r, 250))) ready = await get('/readyz');
    // The process's own words when it did not get there (it exited, or never became ready).
    expect(ready?.body, `exit code ${child.exitCode}; output:\n${output.slice(-4000)}`).toEqual({ ready: true });
    expect(output).toMatch(/"msg":"database reachable: serving"/);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 180_000);
});
