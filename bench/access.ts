/**
 * npm run bench (second part): what the access features cost, each measured as A ÷ B between
 * two server processes loaded in alternating short slices in the same run:
 *   audit log on (PostgreSQL) ÷ off, target >= 0.85;
 *   prediction cache on, every request a hit ÷ cache off, target >= 1.2 — on the demo model (a
 *   logistic regression, a few µs a row when batched) and on a 300-tree, depth-6 gradient-boosted
 *   ensemble (the size of a typical production GBDT, whose scoring a cache hit saves);
 *   rate limiting on (Redis, an API key with a rate it never reaches) ÷ off (same key, no rate), target >= 0.9.
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; a schema of
 * its own is made and dropped), BENCH_REDIS_URL (default redis://127.0.0.1:6379),
 * BENCH_ACCESS_PAIRS (default 8) and BENCH_ACCESS_SLICE seconds (default 2).
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
    log('[1/4] training and registering the demo model on PostgreSQL');
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
    const gbdtBody = JSON.stringify({ model: 'gbdt', payload: Object.fromEntries(HOTEL_NUMERIC.map((f) => [f, row[f]])) });

    log('[2/4] starting eight servers (A and B for each case)');
    const start = async (env: Record<string, string>) => {
      const c = await startChild(['src/cli/main.ts', 'serve', '--json'], { ...base, ...env });
      children.push(c);
      return c;
    };
    const [auditOn, auditOff, cacheOn, cacheOff, limitOn, limitOff, gbdtCacheOn, gbdtCacheOff] = await Promise.all([
      start({ AUDIT_LOG: 'on' }),
      start({}),
      start({ CACHE_MAX_ITEMS: '10000' }),
      start({}),
      start({ REDIS_URL: redisUrl }),
      start({}),
      start({ CACHE_MAX_ITEMS: '10000' }),
      start({}),
    ]);
    for (const [c, token] of [[auditOn], [auditOff], [cacheOn], [cacheOff], [limitOn, limited], [limitOff, unlimited]] as [Child, string?][]) await warm(c.url, body, 2, token);
    for (const c of [gbdtCacheOn, gbdtCacheOff]) await warm(c.url, gbdtBody, 2);

    log(`[3/4] ${pairs} pairs of ${slice}s slices per case`);
    const audit = await alternate('audit', { url: auditOn.url }, { url: auditOff.url }, body, pairs, slice);
    const cache = await alternate('cache', { url: cacheOn.url }, { url: cacheOff.url }, body, pairs, slice);
    const gbdtCache = await alternate('cache (GBDT)', { url: gbdtCacheOn.url }, { url: gbdtCacheOff.url }, gbdtBody, pairs, slice);
    const limit = await alternate('rate limit', { url: limitOn.url, token: limited }, { url: limitOff.url, token: unlimited }, body, pairs, slice);

    // Every audited request must have reached PostgreSQL, or the figure would flatter the writer.
    await new Promise((r) => setTimeout(r, 500));
    const written = Number((await admin.query(`select count(*) as n from ${schema}.predictions`)).rows[0].n);

    log('[4/4] results');
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const cpu = (x: { aCpuUs: number; bCpuUs: number }) => `server CPU per request ${x.aCpuUs.toFixed(1)} vs ${x.bCpuUs.toFixed(1)} µs`;
    const lines = [
      `single-row /v1/infer, ${pairs} pairs of ${slice}s slices per case, A and B alternating, ${os.cpus().length} cores (load generator on the same machine)`,
      '',
      `audit log on (PostgreSQL) / off:  ${audit.ratio.toFixed(2)} (target >= 0.85; ${audit.aRps} vs ${audit.bRps} req/s; per pair ${fmt(audit.perPair)}; ${cpu(audit)}); ${written} records written`,
      `cache hit / cache off, demo model: ${cache.ratio.toFixed(2)} (target >= 1.2; ${cache.aRps} vs ${cache.bRps} req/s; per pair ${fmt(cache.perPair)}; ${cpu(cache)})`,
      `cache hit / cache off, 300-tree GBDT: ${gbdtCache.ratio.toFixed(2)} (target >= 1.2; ${gbdtCache.aRps} vs ${gbdtCache.bRps} req/s; per pair ${fmt(gbdtCache.perPair)}; ${cpu(gbdtCache)})`,
      `rate limiting on (Redis) / off:   ${limit.ratio.toFixed(2)} (target >= 0.9; ${limit.aRps} vs ${limit.bRps} req/s; per pair ${fmt(limit.perPair)}; ${cpu(limit)})`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'access-latest.json'), JSON.stringify({ at: new Date().toISOString(), pairs, slice, audit, cache, gbdtCache, limit, auditRecordsWritten: written }, null, 2));
  } finally {
    for (const c of children) c.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
