import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';
import { ThrowawayRedis } from './helpers/redis.js';

/**
 * The suite needs PostgreSQL and Redis. When they are installed but not running (a laptop, a
 * fresh container) and the test URLs were not set, throwaway instances are started on spare
 * ports for this run and stopped afterwards; the test workers, forked after this, inherit the
 * URLs. When they are not installed, the run stops at once with the one line that installs them.
 */
const INSTALL = 'sudo apt-get install -y postgresql redis-server   (Debian/Ubuntu; or set TEST_DATABASE_URL and TEST_REDIS_URL to servers you have)';

function reachable(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const postgresInstalled = () => existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(path.join('/usr/lib/postgresql', v, 'bin', 'initdb')));

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export type Started = { stop(): Promise<void> | void };

/** PostgreSQL at `url`, or a throwaway one when `url` is the default and nothing listens there. */
export async function ensurePostgres(url: string, explicit: boolean, log: (m: string) => void): Promise<{ url: string; started?: Started }> {
  const u = new URL(url);
  if (await reachable(u.hostname, Number(u.port || 5432))) return { url };
  if (explicit) throw new Error(`TEST_DATABASE_URL=${url}: nothing answers there; start that server or unset TEST_DATABASE_URL`);
  if (!postgresInstalled()) throw new Error(`PostgreSQL is not running at ${u.host} and not installed. Install it with:\n  ${INSTALL}`);
  log(`PostgreSQL is not running at ${u.host}: starting a throwaway server for this run (initdb + pg_ctl)…`);
  const server = await ThrowawayPostgres.create();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query('create database test');
  } finally {
    await admin.end();
  }
  const testUrl = server.url.replace(/\/postgres$/, '/test');
  log(`  throwaway PostgreSQL at ${testUrl}`);
  return { url: testUrl, started: { stop: () => server.destroy() } };
}

/** Redis at `url`, or a throwaway one when `url` is the default and nothing listens there. */
export async function ensureRedis(url: string, explicit: boolean, log: (m: string) => void): Promise<{ url: string; started?: Started }> {
  const u = new URL(url);
  if (await reachable(u.hostname, Number(u.port || 6379))) return { url };
  if (explicit) throw new Error(`TEST_REDIS_URL=${url}: nothing answers there; start that server or unset TEST_REDIS_URL`);
  if (!onPath('redis-server')) throw new Error(`Redis is not running at ${u.host} and not installed. Install it with:\n  ${INSTALL}`);
  log(`Redis is not running at ${u.host}: starting a throwaway redis-server for this run…`);
  const server = await ThrowawayRedis.create();
  log(`  throwaway Redis at ${server.url}`);
  return { url: server.url, started: { stop: () => server.kill() } };
}

/** The newest modification time of the files below a folder. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((t, e) => Math.max(t, e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs), 0);
}

/** The console tests serve dist/ui: build it when missing or older than its sources (a fraction of a second). */
function buildConsoleIfStale(log: (m: string) => void): void {
  const built = 'dist/ui/app.js';
  if (existsSync(built) && existsSync('dist/ui/report.js') && statSync(built).mtimeMs >= newest('ui')) return;
  log('building the console (dist/ui) for the tests');
  execFileSync(process.execPath, ['scripts/build-ui.mjs'], { stdio: 'inherit' });
}

/** The newest modification time of the sources below a folder that go into dist/ (tests left out). */
function newestSource(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (t, e) => Math.max(t, e.isDirectory() ? newestSource(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? 0 : statSync(path.join(dir, e.name)).mtimeMs),
    0,
  );
}

/**
 * The CLI and server processes the tests start run the built command, dist/bin/modelgate.js —
 * what the package's `modelgate` command runs — instead of the sources through tsx, whose
 * loader cost each of the suite's 150-odd processes about 1.5 s (3.1–3.8 s against 1.7–1.8 s
 * for `models --help` on the CI machine). Built here when missing or older than src/ (about
 * 20 s; `npm ci` has already built it). Type errors do not stop the tests (tsc still emits;
 * `npm run lint` reports them).
 */
function buildServerIfStale(log: (m: string) => void): void {
  const built = 'dist/bin/modelgate.js';
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(newestSource('src'), statSync('scripts/build-cli.mjs').mtimeMs)) return;
  log('building dist/ (tsc -p tsconfig.build.json, then scripts/build-cli.mjs) for the tests that start the CLI and the server');
  const before = Date.now();
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (r.status !== 0) log('tsc reported errors (above); the tests run what it emitted');
  const b = spawnSync(process.execPath, ['scripts/build-cli.mjs'], { stdio: 'inherit' });
  if (b.status !== 0 || !existsSync(built) || statSync(built).mtimeMs < before - 1000)
    throw new Error(`tsc -p tsconfig.build.json and scripts/build-cli.mjs did not write ${built} (exits ${r.status}, ${b.status}); see their output above`);
}

export default async function setup(): Promise<() => Promise<void>> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  buildConsoleIfStale(log);
  buildServerIfStale(log);
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromium))
    throw new Error(`The console tests drive Chromium and found none at ${chromium}. Install it: sudo apt-get install -y chromium   (or set CHROMIUM_PATH to a Chromium or Chrome binary)`);
  const started: Started[] = [];
  const pgUrl = await ensurePostgres(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', process.env.TEST_DATABASE_URL !== undefined, log);
  if (pgUrl.started) started.push(pgUrl.started);
  try {
    const redis = await ensureRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', process.env.TEST_REDIS_URL !== undefined, log);
    if (redis.started) started.push(redis.started);
    process.env.TEST_DATABASE_URL = pgUrl.url;
    process.env.TEST_REDIS_URL = redis.url;
  } catch (e) {
    for (const s of started) await s.stop();
    throw e;
  }
  return async () => {
    for (const s of started) await s.stop();
  };
}
