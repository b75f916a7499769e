/**
 * npm run bench (second part): what the access features cost, each measured as A ÷ B in
 * alternating short slices (B A, A B, …) in the same run:
 *   audit log on (PostgreSQL) ÷ off, target >= 0.85: two server processes, so measured over
 *   BENCH_AUDIT_PROCESSES fresh pairs of them (two identical processes differ by up to ±15 % here,
 *   from JIT and memory layout alone; fresh pairs average that out), each warmed for
 *   BENCH_AUDIT_WARM seconds (default 10: an audit-on server takes about that long to reach its
 *   steady rate, starting some 30 % below it); then a control: an audit-off server beside a
 *   separate process (bench/copy-load.ts) writing the same records at the audit-on rate ÷ the
 *   same server without it, which is what PostgreSQL on the same two cores costs by itself;
 *   prediction cache, every request a hit ÷ every request a miss (a new row each time), target
 *   >= 1.2, in one process with the cache on — on the demo model (a logistic regression, a few µs
 *   a row when batched) and on a 300-tree, depth-6 gradient-boosted ensemble (the size of a
 *   typical production GBDT, whose scoring a cache hit saves);
 *   rate limiting on (Redis, an API key with a rate it never reaches) ÷ off (an API key without a
 *   rate), target >= 0.9, in one process: the two keys differ only in the limit.
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; a schema of
 * its own is made and dropped), BENCH_REDIS_URL (default redis://127.0.0.1:6379),
 * BENCH_ACCESS_PAIRS (default 8), BENCH_ACCESS_SLICE seconds (default 2), BENCH_AUDIT_PROCESSES
 * (default 3; each runs BENCH_ACCESS_PAIRS / 2 pairs, at least 2), and BENCH_CASES
 * (comma-separated subset of audit,cache,gbdt-cache,rate-limit; default all).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ADMIN_TOKEN, alternate, log, root, startChild, warm, type Child } from './harness.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { exportTrees, generateHotelBookings, HOTEL_NUMERIC, rowPayload, syntheticEnsemble, trainLogisticRegression } from '../src/training/index.js';

const pgUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pairs = Number(process.env.BENCH_ACCESS_PAIRS ?? 8);
const slice = Number(process.env.BENCH_ACCESS_SLICE ?? 2);
const auditProcesses = Number(process.env.BENCH_AUDIT_PROCESSES ?? 3);
const auditWarm = Number(process.env.BENCH_AUDIT_WARM ?? 10);
const CASES = ['audit', 'cache', 'gbdt-cache', 'rate-limit'] as const;
const cases = new Set((process.env.BENCH_CASES ?? CASES.join(',')).split(',').map((c) => c.trim()));
for (const c of cases) if (!(CASES as readonly string[]).includes(c)) throw new Error(`BENCH_CASES: unknown case ${c}; known: ${CASES.join(', ')}`);

async function main() {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect().catch((e) => {
    throw new Error(`cannot reach PostgreSQL at ${pgUrl} (${(e as Error).message}); set BENCH_DATABASE_URL`);
  });
  const children: Child[] = [];
  try {
    await admin.query(`create schema ${schema}`);
    const dbUrl = `${pgUrl}?options=-c%20search_path%3D${schema}`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-bench-access-'));
    const base = { MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: ADMIN_TOKEN, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: dbUrl, CACHE_MAX_ITEMS: '0', AUDIT_LOG: 'off' };
    log('[1/3] training and registering the demo model on PostgreSQL');
    const trained = trainLogisticRegression(generateHotelBookings(20000, 42));
    const ctx = await openContext(loadConfig(base), createLogger('warn'));
    await ctx.registry.register({ model: 'hotel-cancel', onnx: trained.onnx, actor: 'bench' });
    await ctx.registry.promote({ model: 'hotel-cancel', target: 'production', version: 1, actor: 'bench' });
    const gbdt = syntheticEnsemble([...HOTEL_NUMERIC], 300, 6);
    await ctx.registry.register({ model: 'gbdt', onnx: exportTrees(gbdt), actor: 'bench' });
    await ctx.registry.promote({ model: 'gbdt', target: 'production', version: 1, actor: 'bench' });
    const limited = (await ctx.access.create({ name: 'bench-limited', scopes: ['infer'], rate: '1000000/s', actor: 'bench' })).token;
    const unlimited = (await ctx.access.create({ name: 'bench-unlimited', scopes: ['infer'], actor: 'bench' })).token;
    await ctx.close();
    const body = JSON.stringify({ model: 'hotel-cancel', payload: rowPayload(trained.holdout.data, 0) });
    const row = rowPayload(trained.holdout.data, 0);

    const start = async (env: Record<string, string>) => {
      const c = await startChild(['src/cli/main.ts', 'serve', '--json'], { ...base, ...env });
      children.push(c);
      return c;
    };
    type Result = Awaited<ReturnType<typeof alternate>>;
    const results: Partial<Record<(typeof CASES)[number] | 'audit-control', Result>> = {};
    const stop = async (...cs: Child[]) => {
      for (const c of cs) {
        c.child.kill('SIGTERM');
        await new Promise((r) => c.child.once('exit', r));
        children.splice(children.indexOf(c), 1);
      }
    };
    // A miss every time: a numeric feature takes a value never sent before.
    let unique = 0;
    const missing = (model: string, payload: Record<string, unknown>) => () => JSON.stringify({ model, payload: { ...payload, lead_time: 1 + ++unique / 1e7 } });
    const gbdtPayload = Object.fromEntries(HOTEL_NUMERIC.map((f) => [f, row[f]]));

    // Each case starts its own servers and stops them when done, so idle servers take nothing from the next.
    log(`[2/3] ${pairs} pairs of ${slice}s slices per case: ${[...cases].join(', ')}`);
    let written = 0;
    if (cases.has('audit')) {
      const runs: Result[] = [];
      for (let i = 1; i <= auditProcesses; i++) {
        const [on, off] = await Promise.all([start({ AUDIT_LOG: 'on' }), start({})]);
        await warm(on.url, body, auditWarm);
        await warm(off.url, body, auditWarm);
        runs.push(await alternate(`audit (processes ${i}/${auditProcesses})`, { url: on.url }, { url: off.url }, body, Math.max(2, Math.round(pairs / 2)), slice));
        await stop(on, off);
      }
      results.audit = combine(runs);
      // Every audited request must have reached PostgreSQL, or the figure would flatter the writer.
      await new Promise((r) => setTimeout(r, 500));
      written = Number((await admin.query(`select count(*) as n from ${schema}.predictions`)).rows[0].n);
      // Control: the same records written by a separate process at the audit-on server's rate,
      // beside a server with the audit log off. What this costs the server is PostgreSQL's share
      // of the machine alone, with none of modelgate's recording work.
      const off = await start({});
      await warm(off.url, body, auditWarm);
      const loader = await startChild(['bench/copy-load.ts'], { DATABASE_URL: dbUrl, RATE: String(results.audit.aRps), PAYLOAD: JSON.stringify(row) });
      children.push(loader);
      let writing = true;
      const pause = (on: boolean) => async () => {
        if (writing !== on) loader.child.kill(on ? 'SIGCONT' : 'SIGSTOP');
        writing = on;
        // Let a resumed writer reach its rate before the slice is measured.
        if (on) await new Promise((r) => setTimeout(r, 300));
      };
      results['audit-control'] = await alternate('database writes alone', { url: off.url, before: pause(true) }, { url: off.url, before: pause(false) }, body, pairs, slice);
      loader.child.kill('SIGCONT');
      await stop(off, loader);
    }
    for (const [name, label, model, payload] of [
      ['cache', 'cache', 'hotel-cancel', row],
      ['gbdt-cache', 'cache (GBDT)', 'gbdt', gbdtPayload],
    ] as const) {
      if (!cases.has(name)) continue;
      const server = await start({ CACHE_MAX_ITEMS: '10000' });
      const hit = JSON.stringify({ model, payload });
      await warm(server.url, hit, 2);
      await warm(server.url, missing(model, payload), 2);
      results[name] = await alternate(label, { url: server.url, body: hit }, { url: server.url, body: missing(model, payload) }, hit, pairs, slice);
      await stop(server);
    }
    if (cases.has('rate-limit')) {
      const server = await start({ REDIS_URL: redisUrl });
      await warm(server.url, body, 2, limited);
      await warm(server.url, body, 2, unlimited);
      results['rate-limit'] = await alternate('rate limit', { url: server.url, token: limited }, { url: server.url, token: unlimited }, body, pairs, slice);
      await stop(server);
    }
    const { audit, 'audit-control': auditControl, cache, 'gbdt-cache': gbdtCache, 'rate-limit': limit } = results;

    log('[3/3] results');
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const cpu = (x: { aCpuUs: number; bCpuUs: number }) => `server CPU per request ${x.aCpuUs.toFixed(1)} vs ${x.bCpuUs.toFixed(1)} µs`;
    const line = (label: string, target: string, x: Result | undefined, extra = '') =>
      x ? [`${label} ${x.ratio.toFixed(2)} (target ${target}; ${x.aRps} vs ${x.bRps} req/s; per pair ${fmt(x.perPair)}; ${cpu(x)})${extra}`] : [];
    const lines = [
      `single-row /v1/infer, ${pairs} pairs of ${slice}s slices per case, A and B alternating, ${os.cpus().length} cores (load generator on the same machine)`,
      '',
      ...line('audit log on (PostgreSQL) / off: ', '>= 0.85', audit, `; ${written} records written`),
      ...line('  control: audit off, the same records written by another process / not:', 'none, a ceiling', auditControl, ': PostgreSQL sharing the cores alone'),
      ...line('cache hit / cache miss, demo model:', '>= 1.2', cache),
      ...line('cache hit / cache miss, 300-tree GBDT:', '>= 1.2', gbdtCache),
      ...line('rate limiting on (Redis) / off:  ', '>= 0.9', limit),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      path.join(outDir, 'access-latest.json'),
      JSON.stringify({ at: new Date().toISOString(), pairs, slice, audit, auditControl, cache, gbdtCache, limit, auditRecordsWritten: written }, null, 2),
    );
  } finally {
    for (const c of children) c.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

/** Several alternate() runs as one: summed requests and CPU, pairs in order. */
function combine(runs: Awaited<ReturnType<typeof alternate>>[]): Awaited<ReturnType<typeof alternate>> {
  const sum = (f: (r: (typeof runs)[number]) => number) => runs.reduce((s, r) => s + f(r), 0);
  const aReq = sum((r) => r.aRequests);
  const bReq = sum((r) => r.bRequests);
  return {
    ratio: aReq / bReq,
    perPair: runs.flatMap((r) => r.perPair),
    aRps: Math.round(sum((r) => r.aRps) / runs.length),
    bRps: Math.round(sum((r) => r.bRps) / runs.length),
    aRequests: aReq,
    bRequests: bReq,
    aCpuUs: sum((r) => r.aCpuUs * r.aRequests) / aReq,
    bCpuUs: sum((r) => r.bCpuUs * r.bRequests) / bReq,
    p99Ms: { a: runs.flatMap((r) => r.p99Ms.a), b: runs.flatMap((r) => r.p99Ms.b) },
  };
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
