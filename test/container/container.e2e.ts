import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'csv-stringify/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, randomId } from '../helpers/db.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { freePort, REDIS_URL } from '../helpers/redis.js';
import { ThrowawayPostgres } from '../helpers/throwaway-pg.js';

/**
 * The image as the runbooks run it: built from the Dockerfile, started with the hardening they
 * require, driven through the CLI inside the container and over HTTP. Needs a Docker engine
 * (`../shared/tools/container-env.sh up` on the development machines); `.ci/run` runs it.
 */
const run = promisify(execFile);
const docker = async (...args: string[]) => (await run('docker', args, { maxBuffer: 64 << 20 })).stdout.trim();
const IMAGE = process.env.MODELGATE_IMAGE ?? 'modelgate:test';
const TOKEN = 'container-admin-token-0123456789abcdef';
const HARDENING = ['--read-only', '--tmpfs', '/tmp', '--user', '1000', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures');
const expected = JSON.parse(readFileSync(path.join(FIXTURES, 'telco_churn.expected.json'), 'utf8')) as { rows: Record<string, unknown>[]; proba: number[]; labels: unknown[] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const names: string[] = [];
const volumes: string[] = [];

async function start(opts: { volume: string; port: number; env?: Record<string, string>; name?: string; docker?: string[] }): Promise<{ name: string; url: string }> {
  const name = opts.name ?? randomId('mg');
  names.push(name);
  const env = { PORT: String(opts.port), MODELGATE_ADMIN_TOKEN: TOKEN, RELOAD_INTERVAL_MS: '500', LOG_LEVEL: 'warn', ...opts.env };
  await docker(
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'host',
    ...HARDENING,
    ...(opts.docker ?? []),
    '-v',
    `${opts.volume}:/data`,
    '-v',
    `${FIXTURES}:/fixtures:ro`,
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    IMAGE,
  );
  const url = `http://127.0.0.1:${opts.port}`;
  for (const until = Date.now() + 60_000; Date.now() < until; await sleep(250)) {
    const ready = await fetch(`${url}/readyz`).catch(() => undefined);
    if (ready?.status === 200) return { name, url };
  }
  throw new Error(`container ${name} not ready within 60 s:\n${await docker('logs', name).catch(() => '')}`);
}

const cli = async (container: string, ...args: string[]) => JSON.parse(await docker('exec', container, 'modelgate', ...args, '--json'));
/** A command in the container with bytes piped into it (docker exec -i, as kubectl exec -i); its stdout. */
const execPiped = (container: string, input: Buffer | string, ...command: string[]) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn('docker', ['exec', '-i', container, ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command.join(' ')} exited ${code}: ${err}${out}`))));
    child.stdin.end(input);
  });
const api = async (url: string, method: string, p: string, body?: unknown, token = TOKEN) => {
  const res = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const newVolume = async () => {
  const v = randomId('mgvol');
  await docker('volume', 'create', v);
  volumes.push(v);
  return v;
};

beforeAll(async () => {
  // The image the tests run: built here unless MODELGATE_IMAGE names one already built.
  if (!process.env.MODELGATE_IMAGE) await run('docker', ['build', '--pull=false', '--network', 'host', '-t', IMAGE, REPO_ROOT], { maxBuffer: 64 << 20 });
}, 900_000);

afterAll(async () => {
  for (const n of names) await docker('rm', '-f', n).catch(() => undefined);
  for (const v of volumes) await docker('volume', 'rm', '-f', v).catch(() => undefined);
});

describe('the container image, hardened, on SQLite and a data volume', () => {
  let volume: string;
  let first: { name: string; url: string };
  let served = 0;

  it('registers and promotes through the CLI inside the container, and serves scikit-learn probabilities within 1e-5', async () => {
    volume = await newVolume();
    first = await start({ volume, port: await freePort(), docker: ['--memory', '1g', '--cpus', '1.5'], env: { BACKGROUND_THREAD_PRIORITY: 'idle' } });
    expect(await cli(first.name, 'register', '--model', 'churn', '--onnx', '/fixtures/telco_churn.onnx')).toMatchObject({ model: 'churn', version: 1 });
    expect(await cli(first.name, 'promote', '--model', 'churn', '--version', '1')).toMatchObject({ alias: 'production', version: 1 });
    // Files only the operator's machine has, as docs/operations.md says to register them: a graph
    // piped in, and a reference CSV copied into the container's /tmp first.
    const bytes = readFileSync(path.join(FIXTURES, 'telco_churn.onnx'));
    expect(JSON.parse(await execPiped(first.name, bytes, 'modelgate', 'register', '--model', 'churn-piped', '--onnx', '-', '--json'))).toMatchObject({
      model: 'churn-piped',
      version: 1,
      onnx_sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    const columns = Object.keys(expected.rows[0]);
    const csv = stringify([[...columns, 'Churn'], ...expected.rows.map((r, i) => [...columns.map((c) => r[c]), expected.labels[i]])]);
    await execPiped(first.name, bytes, 'sh', '-c', 'cat > /tmp/churn.onnx');
    await execPiped(first.name, csv, 'sh', '-c', 'cat > /tmp/train.csv');
    expect(await cli(first.name, 'register', '--model', 'churn-piped', '--onnx', '/tmp/churn.onnx', '--reference', '/tmp/train.csv', '--target', 'Churn')).toMatchObject({
      version: 2,
      onnx_sha256: createHash('sha256').update(bytes).digest('hex'),
      reference: { rows: expected.rows.length, skipped: 0 },
    });
    // The same over HTTP, as a deploy job with only an admin key would (the upload's reference goes to the container's /tmp while it is profiled).
    const upload = new FormData();
    upload.append('onnx', new Blob([bytes]), 'churn.onnx');
    upload.append('reference', new Blob([csv], { type: 'text/csv' }), 'train.csv');
    upload.append('target', 'Churn');
    const uploaded = await fetch(`${first.url}/v1/models/churn-uploaded/versions`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: upload });
    expect(uploaded.status).toBe(200);
    expect(await uploaded.json()).toMatchObject({
      model: 'churn-uploaded',
      version: 1,
      onnx_sha256: createHash('sha256').update(bytes).digest('hex'),
      reference: { rows: expected.rows.length, skipped: 0 },
    });
    let res = await api(first.url, 'POST', '/v1/models/churn/predict', { instances: expected.rows });
    for (const until = Date.now() + 10_000; res.status !== 200 && Date.now() < until; await sleep(200)) res = await api(first.url, 'POST', '/v1/models/churn/predict', { instances: expected.rows });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const scores = res.body.predictions.map((p: { score: number }) => p.score);
    const worst = Math.max(...scores.map((s: number, i: number) => Math.abs(s - expected.proba[i])));
    expect(worst).toBeLessThan(1e-5);
    served += scores.length;
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    expect(metrics).toMatch(/modelgate_predictions_total\{[^}]*model="churn"[^}]*\} /);
    // The container's limits, read from its cgroup, for the CPU and memory alerts.
    expect(metrics).toContain('modelgate_container_cpu_limit_cores{source="cgroup"} 1.5');
    expect(metrics).toContain('modelgate_container_memory_limit_bytes{source="cgroup"} 1073741824');
    expect(metrics).toContain('modelgate_ready 1');
    expect(await (await fetch(`${first.url}/readyz`)).json()).toEqual({ ready: true });
    // BACKGROUND_THREAD_PRIORITY=idle works in the image: it has chrt, and the hardening allows
    // the audit thread (started by the predictions above) to lower its own priority.
    const policies = await docker('exec', first.name, 'sh', '-c', 'for t in /proc/[0-9]*/task/*; do chrt -p "${t##*/}" 2>/dev/null; done');
    expect(policies).toMatch(/policy: SCHED_IDLE/);
    // The console is in the image (built with the rest), with its own Content-Security-Policy.
    const ui = await fetch(`${first.url}/ui/`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${first.url}/ui/app.js`)).status).toBe(200);
  });

  it('docker stop ends it with exit 0 within the grace period, every audit record written; a new container on the volume serves the same version', async () => {
    const t0 = Date.now();
    await docker('stop', '--time', '20', first.name);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await docker('inspect', first.name, '--format', '{{.State.ExitCode}}')).toBe('0');
    const second = await start({ volume, port: await freePort() });
    const exported = await docker('exec', second.name, 'modelgate', 'predictions', 'export', '--model', 'churn', '--format', 'jsonl');
    expect(exported.split('\n').filter(Boolean)).toHaveLength(served);
    const one = await api(second.url, 'POST', '/v1/infer', { model: 'churn', payload: expected.rows[0] });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ version: 1, alias: 'production' });
    expect(Math.abs(one.body.score - expected.proba[0])).toBeLessThan(1e-5);
  });

  it('without a writable data directory: a clear error naming MODELGATE_DATA_DIR and a non-zero exit, no stack trace loop', async () => {
    const name = randomId('mg');
    names.push(name);
    const port = await freePort();
    // The image declares /data a volume, so Docker always gives one; a volume mounted read-only
    // is how a writable one goes missing (as a Kubernetes pod without its claim would).
    const volume = await newVolume();
    const out = await run('docker', ['run', '--name', name, '--network', 'host', ...HARDENING, '-v', `${volume}:/data:ro`, '-e', `PORT=${port}`, '-e', `MODELGATE_ADMIN_TOKEN=${TOKEN}`, IMAGE], {
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, text: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
    );
    expect(out.code).toBe(2);
    expect(out.text).toMatch(/MODELGATE_DATA_DIR=\/data is not writable by uid 1000 \(EROFS\): mount a writable volume there/);
    expect(out.text).not.toMatch(/\n\s+at .*\(.*\.js:\d+:\d+\)/);
  });
});

describe('a container with a CPU limit', () => {
  // os.availableParallelism() sees the machine's cores, not `--cpus` (Kubernetes' limits.cpu):
  // WORKERS=auto must count the limit, or a pod limited to 2 CPUs on a 64-core node forks 64.
  it('WORKERS=auto counts the limit, not the machine: one process under --cpus 1', async () => {
    const machine = os.availableParallelism();
    const { name, url } = await start({ volume: await newVolume(), port: await freePort(), env: { WORKERS: 'auto', LOG_LEVEL: 'info' }, docker: ['--cpus', '1'] });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // The same limit, for alerts on CPU use against it.
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^modelgate_container_cpu_limit_cores\{source="cgroup"\} 1$/m);
    const { stdout, stderr } = await run('docker', ['logs', name], { maxBuffer: 64 << 20 });
    const lines = (stdout + stderr)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; cpu_limit?: number; workers?: number });
    expect(lines.find((l) => l.msg === 'starting workers')).toBeUndefined();
    if (machine > 1) expect(lines.find((l) => l.cpu_limit !== undefined)).toMatchObject({ cpu_limit: 1, msg: `the CPU limit is 1 (of the machine's ${machine} cores): WORKERS=auto counts 1` });
  });
});

describe('a container whose database is not up yet', () => {
  let db: ThrowawayPostgres | undefined;
  afterAll(() => db?.destroy());

  it('is alive but not ready, logs why, retries, and becomes ready once the database appears', async () => {
    const pgPort = await freePort();
    const port = await freePort();
    const name = randomId('mg');
    names.push(name);
    const volume = await newVolume();
    await docker(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      ...HARDENING,
      '-v',
      `${volume}:/data`,
      '-e',
      `PORT=${port}`,
      '-e',
      `MODELGATE_ADMIN_TOKEN=${TOKEN}`,
      '-e',
      `DATABASE_URL=postgres://postgres@127.0.0.1:${pgPort}/postgres`,
      IMAGE,
    );
    const url = `http://127.0.0.1:${port}`;
    const readyz = () =>
      fetch(`${url}/readyz`).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { reasons?: string[] } }),
        () => undefined,
      );
    let r = await readyz();
    for (const until = Date.now() + 30_000; r?.status !== 503 && Date.now() < until; await sleep(250)) r = await readyz();
    expect(r?.body.reasons?.[0]).toMatch(/database unreachable: .*ECONNREFUSED.*check DATABASE_URL/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await docker('logs', name)).toMatch(/cannot start: .*not ready, retrying in \d+ s/);
    expect(await docker('inspect', name, '--format', '{{.State.Running}} {{.RestartCount}}')).toBe('true 0');
    db = await ThrowawayPostgres.create(pgPort);
    for (const until = Date.now() + 60_000; r?.status !== 200 && Date.now() < until; await sleep(250)) r = await readyz();
    expect(r?.status).toBe(200);
  });
});

describe('two containers on the host PostgreSQL and Redis', () => {
  const schema = randomId('mgc');
  let a: { name: string; url: string };
  let b: { name: string; url: string };

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    const volume = await newVolume(); // artifacts, shared as a bucket would be
    const env = { DATABASE_URL: `${PG_URL}?options=-c%20search_path%3D${schema}`, REDIS_URL };
    a = await start({ volume, port: await freePort(), env });
    b = await start({ volume, port: await freePort(), env });
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  it('a promotion made through one is served by the other within 2 s', async () => {
    for (let i = 0; i < 2; i++) await cli(a.name, 'register', '--model', 'churn', '--onnx', '/fixtures/telco_churn.onnx');
    await cli(a.name, 'promote', '--model', 'churn', '--version', '1');
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(200)) if ((await api(b.url, 'POST', '/v1/infer', { model: 'churn', payload: expected.rows[0] })).body.version === 1) break;
    expect((await api(a.url, 'POST', '/v1/models/churn/promote', { version: 2 })).status).toBe(200);
    const t0 = Date.now();
    let version = 0;
    while (Date.now() - t0 < 5000 && version !== 2) {
      version = (await api(b.url, 'POST', '/v1/infer', { model: 'churn', payload: expected.rows[1] })).body.version;
      if (version !== 2) await sleep(50);
    }
    expect(version).toBe(2);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("a key's rate limit holds across both", async () => {
    const key = await cli(a.name, 'keys', 'create', '--name', 'shared', '--scopes', 'infer', '--rate', '20/30s');
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await api(i % 2 ? b.url : a.url, 'POST', '/v1/infer', { model: 'churn', payload: expected.rows[i % 50] }, key.token)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
  });
});

describe('the Compose stack', () => {
  it('docker-compose accepts it with and without the monitoring profile, and refuses to start without an admin token', async () => {
    const dir = path.join(REPO_ROOT, 'deploy/compose');
    const compose = (args: string[], env: Record<string, string>) => run('docker-compose', args, { cwd: dir, env: { ...process.env, ...env } });
    for (const profile of [[], ['--profile', 'monitoring']]) {
      const out = await compose([...profile, 'config'], { MODELGATE_ADMIN_TOKEN: TOKEN });
      expect(out.stdout).toMatch(/modelgate:/);
      if (profile.length) expect(out.stdout).toMatch(/prometheus:[\s\S]*grafana:/);
    }
    await expect(compose(['config', '-q'], { MODELGATE_ADMIN_TOKEN: '' })).rejects.toThrow(/set MODELGATE_ADMIN_TOKEN/);
  });
});
