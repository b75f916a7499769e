/**
 * npm run bench:fastpath (part of npm run bench): single-row POST /v1/infer as a user gets it —
 * the default configuration (SQLite, audit log on, cache on, access log at info), an infer-scope
 * API key, scikit-learn's 150-tree GradientBoosting export (test/fixtures/telco_gbdt.onnx, 4
 * numeric and 15 string inputs) and a random MonthlyCharges in every request, so the cache
 * never hits — against a bare node:http server parsing the same JSON and answering the same
 * number of bytes, in the same run, loaded by wrk (one thread; `apt-get install wrk`).
 * Printed as ratios to bare, with each server's request-thread CPU per request and the machine's busy share (Linux /proc).
 * Also the floor of any design (bench/floor-server.ts: node:http,
 * the contract encoder, the batcher and the compiled model, nothing else; and the same as one
 * Fastify route, bench/floor-fastify-server.ts), audit and cache off,
 * the same and the access log off too (ACCESS_LOG=off), PostgreSQL, the cache-hit case (the
 * same row every time), INFERENCE_ENGINE=onnxruntime, and the CPU per request by part from a
 * profile of the default case.
 * Each server writes its stdout (the access log) to a file, as a log collector would take it.
 * The audit log's on ÷ off ratios are measured again in short paired slices (the two servers
 * loaded one after the other, order alternating, median of the per-pair ratios): on a shared
 * machine that drifts by ±15 % within a minute, neighbouring slices compare better than rounds.
 * The headline ratios (the defaults and the two floors against bare) are measured the same way
 * too, in BENCH_BARE_PAIRS pairs, beside the rounds' figures.
 * Environment: BENCH_SECONDS (default 8) per load, BENCH_ROUNDS (default 2), BENCH_AUDIT_PAIRS
 * (default 12), BENCH_AUDIT_SLICE (seconds, default 3; the bare pairs' slices too),
 * BENCH_BARE_PAIRS (default 6), BENCH_DATABASE_URL.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ADMIN_TOKEN, log, median, root, startChild, type Child } from './harness.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { cpuParts, type CpuParts } from './profile-parts.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const auditPairs = Number(process.env.BENCH_AUDIT_PAIRS ?? 12);
const auditSlice = Number(process.env.BENCH_AUDIT_SLICE ?? 3);
const barePairs = Number(process.env.BENCH_BARE_PAIRS ?? 6);
const pgUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const fixture = JSON.parse(readFileSync(path.join(root, 'test/fixtures/telco_gbdt.expected.json'), 'utf8')) as { rows: Record<string, unknown>[] };

interface Load {
  rps: number;
  p50_us: number;
  p99_us: number;
  requests: number;
  /** The server's request thread: CPU µs per request over the load (Linux /proc), whatever share of the cores it got. */
  thread_cpu_us?: number;
  /** Share of the machine's CPU time in use during the load, all processes (wrk included), from /proc/stat. */
  machine_busy?: number;
}

/** Clock ticks a second for /proc's CPU times. */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** A process's main thread (the request thread): user + system CPU µs so far, or undefined off Linux. */
function threadCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces); utime and stime are the 14th and 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** The machine's busy and total CPU ticks so far (Linux /proc/stat), or undefined elsewhere. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: idle and iowait are the idle ones.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - f[4], total };
  } catch {
    return undefined;
  }
}

/** A wrk script: POST /v1/infer with one of the fixture rows, MonthlyCharges random unless `fixed`. */
function wrkScript(dir: string, token: string, fixed: boolean): string {
  const bodies = fixture.rows.map((r) => JSON.stringify({ model: 'churn', payload: { ...r, MonthlyCharges: fixed ? r.MonthlyCharges : '__RANDOM__' } }).replace('"__RANDOM__"', '__RANDOM__'));
  const lua = `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${token}"
local bodies = { ${bodies.map((b) => `[==[${b}]==]`).join(',\n')} }
local n = #bodies
request = function()
  local b = bodies[${fixed ? '1' : 'math.random(n)'}]
  ${fixed ? '' : 'b = (string.gsub(b, "__RANDOM__", string.format("%.4f", 18 + math.random() * 100)))'}
  return wrk.format(nil, "/v1/infer", nil, b)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\\n', summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
`;
  const file = path.join(dir, `infer-${fixed ? 'fixed' : 'random'}.lua`);
  writeFileSync(file, lua);
  return file;
}

/** Run wrk; asynchronously, so this process keeps draining the servers' stdout (their access logs) meanwhile. */
async function wrk(url: string, script: string, connections: number, duration: number): Promise<Load> {
  const { stdout: out } = await promisify(execFile)('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '-s', script, url], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice(7)) as { requests: number; duration_us: number; errors: number; non2xx: number; p50_us: number; p99_us: number };
  if (r.errors || r.non2xx) throw new Error(`wrk against ${url}: ${r.errors} socket errors, ${r.non2xx} non-2xx replies`);
  return { rps: Math.round(r.requests / (r.duration_us / 1e6)), p50_us: r.p50_us, p99_us: r.p99_us, requests: r.requests };
}

/**
 * A server whose stdout (its access log at info) goes to a file, as a log collector would take
 * it: read by this process instead, the log would cost a third busy process on two cores.
 */
async function startServer(env: Record<string, string>, logFile: string, nodeArgs: string[] = []): Promise<Child> {
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/cli/main.ts', 'serve', '--json'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', out, 'inherit'] });
  closeSync(out);
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`modelgate serve exited with ${child.exitCode}; see ${logFile}`);
    const line = readFileSync(logFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"url"'));
    if (line) return { child, url: (JSON.parse(line) as { url: string }).url };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`modelgate serve printed no address in 30 s; see ${logFile}`);
}

/** Audit on ÷ off from paired slices: per-pair ratios of throughput and p99. */
interface PairedRatios {
  rps: number[];
  p99: number[];
}

/** Load `on` and `off` one after the other, `pairs` times, the order alternating; the ratio of each pair. */
async function pairedSlices(on: { url: string; script: string }, off: { url: string; script: string }, pairs = auditPairs): Promise<PairedRatios> {
  const out: PairedRatios = { rps: [], p99: [] };
  for (let i = 0; i < pairs; i++) {
    const first = i % 2 ? off : on;
    const a = await wrk(first.url, first.script, 32, auditSlice);
    const second = first === on ? off : on;
    const b = await wrk(second.url, second.script, 32, auditSlice);
    const [x, y] = first === on ? [a, b] : [b, a];
    out.rps.push(x.rps / y.rps);
    out.p99.push(x.p99_us / y.p99_us);
  }
  return out;
}

interface Case {
  name: string;
  env: Record<string, string>;
  fixed?: boolean;
  db?: 'postgres';
}

async function prepare(c: Case, dataDir: string, dbUrl?: string): Promise<{ env: Record<string, string>; token: string }> {
  const env: Record<string, string> = { MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: ADMIN_TOKEN, HOST: '127.0.0.1', PORT: '0', ...(dbUrl ? { DATABASE_URL: dbUrl } : {}), ...c.env };
  const ctx = await openContext(loadConfig(env), createLogger('warn'));
  try {
    const onnx = readFileSync(path.join(root, 'test/fixtures/telco_gbdt.onnx'));
    const v = await ctx.registry.register({ model: 'churn', onnx, manifest: { missing_category: 'missing' }, actor: 'bench' });
    await ctx.registry.promote({ model: 'churn', target: 'production', version: v.version, actor: 'bench' });
    const { token } = await ctx.access.create({ name: 'bench', scopes: ['infer'], actor: 'bench' });
    return { env, token };
  } finally {
    await ctx.close();
  }
}

async function main() {
  if (spawnSync('wrk', ['--version']).error) {
    log('bench:fastpath needs wrk (a C load generator, so the client takes little of the CPU it shares with the server): apt-get install wrk');
    process.exit(2);
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'modelgate-fastpath-'));
  const cases: Case[] = [
    { name: 'defaults (SQLite, audit on)', env: {} },
    { name: 'audit off', env: { AUDIT_LOG: 'off' } },
    { name: 'audit and cache off', env: { AUDIT_LOG: 'off', CACHE_MAX_ITEMS: '0' } },
    { name: 'audit, cache and access log off', env: { AUDIT_LOG: 'off', CACHE_MAX_ITEMS: '0', ACCESS_LOG: 'off' } },
    { name: 'defaults on PostgreSQL', env: {}, db: 'postgres' },
    { name: 'PostgreSQL, audit off', env: { AUDIT_LOG: 'off' }, db: 'postgres' },
    { name: 'cache hit (same row)', env: {}, fixed: true },
    { name: 'INFERENCE_ENGINE=onnxruntime', env: { INFERENCE_ENGINE: 'onnxruntime' } },
  ];
  const admin = new pg.Client({ connectionString: pgUrl });
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const children: Child[] = [];
  const results = new Map<string, Load[]>();
  const oneConn = new Map<string, Load[]>();
  let profile: CpuParts | undefined;
  const paired = new Map<string, PairedRatios>();
  const againstBare = new Map<string, PairedRatios>();
  try {
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    const dbUrl = `${pgUrl}?options=-c%20search_path%3D${schema}`;
    log(`[1/5] registering telco_gbdt (150 trees) for ${cases.length} server configurations`);
    const servers: { c: Case; url: string; script: string; token: string; pid: number | undefined }[] = [];
    for (const [i, c] of cases.entries()) {
      const dir = path.join(work, `case-${i}`);
      mkdirSync(dir, { recursive: true });
      const { env, token } = await prepare(c, dir, c.db ? dbUrl : undefined);
      const child = await startServer(env, path.join(dir, 'server.log'));
      children.push(child);
      servers.push({ c, url: child.url, script: wrkScript(dir, token, c.fixed ?? false), token, pid: child.child.pid });
    }
    const reply = await fetch(`${servers[0].url}/v1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${servers[0].token}` },
      body: JSON.stringify({ model: 'churn', payload: fixture.rows[0] }),
    });
    if (reply.status !== 200) throw new Error(`modelgate answered ${reply.status}: ${await reply.text()}`);
    const replyBytes = (await reply.text()).length;
    const bare = await startChild(['bench/bare-server.ts'], { REPLY_BYTES: String(replyBytes) });
    children.push(bare);
    const bareScript = wrkScript(work, 'none', false);
    const floor = await startChild(['bench/floor-server.ts'], { REPLY_BYTES: String(replyBytes) });
    children.push(floor);
    const floorFastify = await startChild(['bench/floor-fastify-server.ts'], { REPLY_BYTES: String(replyBytes) });
    children.push(floorFastify);
    const all = [
      { name: 'bare node:http', url: bare.url, script: bareScript, pid: bare.child.pid },
      { name: 'floor: node:http + model only', url: floor.url, script: bareScript, pid: floor.child.pid },
      { name: 'floor on Fastify', url: floorFastify.url, script: bareScript, pid: floorFastify.child.pid },
      ...servers.map((s) => ({ name: s.c.name, url: s.url, script: s.script, pid: s.pid })),
    ];
    log(`[2/5] warming up each server (3 s)`);
    for (const s of all) await wrk(s.url, s.script, 32, 3);
    log(`[3/5] ${rounds} rounds: each server ${seconds} s at 32 connections, then ${Math.ceil(seconds / 2)} s at 1 connection, alternating`);
    for (let r = 1; r <= rounds; r++) {
      for (const s of all) {
        const cpuBefore = threadCpuUs(s.pid);
        const ticksBefore = machineTicks();
        const at32 = await wrk(s.url, s.script, 32, seconds);
        const cpuAfter = threadCpuUs(s.pid);
        const ticksAfter = machineTicks();
        if (cpuBefore !== undefined && cpuAfter !== undefined) at32.thread_cpu_us = (cpuAfter - cpuBefore) / at32.requests;
        // Whether the cores were full: wrk alone takes about two thirds of one at bare's rate here.
        if (ticksBefore && ticksAfter) at32.machine_busy = (ticksAfter.busy - ticksBefore.busy) / (ticksAfter.total - ticksBefore.total);
        const at1 = await wrk(s.url, s.script, 1, Math.ceil(seconds / 2));
        results.set(s.name, [...(results.get(s.name) ?? []), at32]);
        oneConn.set(s.name, [...(oneConn.get(s.name) ?? []), at1]);
        log(`  round ${r} ${s.name}: ${at32.rps} req/s, p99 ${at32.p99_us} µs; 1 connection p50 ${at1.p50_us} µs`);
      }
    }
    const byName = (n: string) => all.find((s) => s.name === n)!;
    log(
      `[4/5] against bare: ${barePairs} pairs of ${auditSlice}-second slices each for the defaults and the two floors; audit on ÷ off: ${auditPairs} pairs each on SQLite and PostgreSQL; order alternating`,
    );
    for (const n of ['defaults (SQLite, audit on)', 'floor: node:http + model only', 'floor on Fastify']) againstBare.set(n, await pairedSlices(byName(n), byName('bare node:http'), barePairs));
    paired.set('SQLite', await pairedSlices(byName('defaults (SQLite, audit on)'), byName('audit off')));
    paired.set('PostgreSQL', await pairedSlices(byName('defaults on PostgreSQL'), byName('PostgreSQL, audit off')));
    log('[5/5] CPU per request by part: profiling the default server under load');
    profile = await profileDefault(work);
    printResults(
      all.map((s) => s.name),
      results,
      oneConn,
      replyBytes,
      profile,
      paired,
      againstBare,
    );
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      path.join(outDir, 'fastpath-latest.json'),
      JSON.stringify(
        {
          at: new Date().toISOString(),
          seconds,
          rounds,
          replyBytes,
          results: Object.fromEntries(results),
          oneConnection: Object.fromEntries(oneConn),
          auditPaired: Object.fromEntries(paired),
          againstBarePaired: Object.fromEntries(againstBare),
          profile,
        },
        null,
        2,
      ),
    );
  } finally {
    for (const c of children) c.child.kill('SIGTERM');
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The default server again, under --cpu-prof, for a fixed load; its profile split into parts. */
async function profileDefault(work: string): Promise<CpuParts> {
  const dir = path.join(work, 'profile');
  mkdirSync(dir, { recursive: true });
  const { env, token } = await prepare({ name: 'profile', env: {} }, dir);
  const profDir = path.join(dir, 'cpu');
  const child = await startServer(env, path.join(dir, 'server.log'), ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  const script = wrkScript(dir, token, false);
  // Past the drift monitor's first run (5 s after start, over the predictions logged so far; then
  // every MONITOR_INTERVAL, 4 h), as the servers of the rounds are: otherwise that one-off read of
  // the warm-up's predictions lands in the profile (3.7 µs a request in the one it did).
  await wrk(child.url, script, 32, 7);
  const from = Number(process.hrtime.bigint() / 1000n);
  const load = await wrk(child.url, script, 32, seconds);
  const to = Number(process.hrtime.bigint() / 1000n);
  const exited = new Promise((r) => child.child.once('exit', r));
  child.child.kill('SIGTERM');
  await exited;
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('the profiled server wrote no .cpuprofile');
  // Only the measured load's samples: the profile also covers start-up, the warm-up and shutdown.
  return cpuParts(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')), load.requests, { from, to });
}

function printResults(
  names: string[],
  at32: Map<string, Load[]>,
  at1: Map<string, Load[]>,
  replyBytes: number,
  profile: CpuParts | undefined,
  paired: Map<string, PairedRatios>,
  againstBare: Map<string, PairedRatios>,
) {
  const bare = at32.get('bare node:http')!;
  const bare1 = at1.get('bare node:http')!;
  const rps = (xs: Load[]) => Math.round(median(xs.map((x) => x.rps)));
  const p99 = (xs: Load[]) => Math.round(median(xs.map((x) => x.p99_us)));
  const p50 = (xs: Load[]) => Math.round(median(xs.map((x) => x.p50_us)));
  const lines = [
    `single-row POST /v1/infer, telco_gbdt.onnx (150 trees, 19 inputs), random MonthlyCharges per request, reply ${replyBytes} bytes; wrk -t1, ${rounds} rounds of ${seconds} s; ${os.cpus().length} cores shared by wrk and the server`,
    '',
    'case                              req/s @32   ratio   p99 µs   p99 ratio   p50 µs @1   p50 ratio   thread CPU µs/req   ratio   machine busy',
    ...names.map((n) => {
      const a = at32.get(n)!;
      const b = at1.get(n)!;
      // Ratios are medians of per-round ratios, so a noisy spell spoils one round, not the figure.
      const ratio = median(a.map((x, i) => x.rps / bare[i].rps));
      const p99r = median(a.map((x, i) => x.p99_us / bare[i].p99_us));
      const p50r = median(b.map((x, i) => x.p50_us / bare1[i].p50_us));
      // The request thread's CPU a request: what the case costs, apart from how the cores were shared in its round.
      const cpu = a.every((x) => x.thread_cpu_us !== undefined) ? median(a.map((x) => x.thread_cpu_us!)) : undefined;
      const cpuRatio = cpu === undefined || !bare.every((x) => x.thread_cpu_us) ? undefined : median(a.map((x, i) => x.thread_cpu_us! / bare[i].thread_cpu_us!));
      const busy = a.every((x) => x.machine_busy !== undefined) ? `${Math.round(100 * median(a.map((x) => x.machine_busy!)))} %` : '-';
      return `${n.padEnd(32)} ${String(rps(a)).padStart(10)}   ${ratio.toFixed(2).padStart(5)}   ${String(p99(a)).padStart(6)}   ${p99r.toFixed(2).padStart(9)}   ${String(p50(b)).padStart(9)}   ${p50r.toFixed(2).padStart(9)}   ${(cpu === undefined ? '-' : cpu.toFixed(1)).padStart(17)}   ${(cpuRatio === undefined ? '-' : cpuRatio.toFixed(2)).padStart(5)}   ${busy.padStart(12)}`;
    }),
    '',
    'targets (defaults): throughput ratio >= 0.75, p99 ratio <= 1.5, p50 ratio at 1 connection <= 2.5',
    'machine busy: both cores, every process (wrk included), over the 32-connection loads; near 100 % the cores, not the server alone, set the pace',
  ];
  for (const [n, r] of againstBare) {
    const above = r.rps.filter((x) => x >= 0.75).length;
    lines.push(`${n} / bare (${r.rps.length} paired ${auditSlice}-s slices): throughput ${median(r.rps).toFixed(2)} (${above} of ${r.rps.length} pairs >= 0.75), p99 ${median(r.p99).toFixed(2)}`);
  }
  const defaults = at32.get('defaults (SQLite, audit on)')!;
  const off = at32.get('audit off');
  if (off) {
    lines.push(
      `audit on / off (SQLite, cache on in both; ${rounds} rounds): throughput ${median(defaults.map((x, i) => x.rps / off[i].rps)).toFixed(2)} (target >= 0.9), p99 ${median(defaults.map((x, i) => x.p99_us / off[i].p99_us)).toFixed(2)} (target <= 1.3)`,
    );
  }
  const pgOn = at32.get('defaults on PostgreSQL');
  const pgOff = at32.get('PostgreSQL, audit off');
  if (pgOn && pgOff) {
    lines.push(
      `audit on / off (PostgreSQL, same cache setting; ${rounds} rounds): throughput ${median(pgOn.map((x, i) => x.rps / pgOff[i].rps)).toFixed(2)}, p99 ${median(pgOn.map((x, i) => x.p99_us / pgOff[i].p99_us)).toFixed(2)}`,
    );
  }
  for (const [db, r] of paired) {
    const above = r.rps.filter((x) => x >= 0.9).length;
    lines.push(
      `audit on / off (${db}, ${r.rps.length} paired ${auditSlice}-s slices): throughput ${median(r.rps).toFixed(2)} (${above} of ${r.rps.length} pairs >= 0.9), p99 ${median(r.p99).toFixed(2)}${db === 'SQLite' ? ' (targets >= 0.9, <= 1.3)' : ''}`,
    );
  }
  if (profile) {
    lines.push('', `server CPU per request by part (default case, the ${profile.requests} requests of one ${seconds}-second load; start-up and warm-up left out; µs):`);
    for (const [part, us] of Object.entries(profile.parts)) lines.push(`  ${part.padEnd(44)} ${us.toFixed(1).padStart(6)}`);
    lines.push(`  ${'total'.padEnd(44)} ${profile.totalUs.toFixed(1).padStart(6)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
