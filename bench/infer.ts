/**
 * npm run bench: modelgate vs a bare node:http server answering the same JSON, measured in
 * the same run with autocannon (single-row /v1/infer, bearer token), printed as ratios.
 * Environment: BENCH_SECONDS per round (default 10), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (default 32),
 * BENCH_CANARY_PAIRS (default 20) and BENCH_CANARY_SLICE seconds (default 2) for the canary comparison.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import { ADMIN_TOKEN, alternate, connections, load, log, median, root, startChild, warm } from './harness.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const canaryPairs = Number(process.env.BENCH_CANARY_PAIRS ?? 20);
const canarySlice = Number(process.env.BENCH_CANARY_SLICE ?? 2);
const token = ADMIN_TOKEN;

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-bench-'));
  // The cache stays off (every request sends the same row, and the model path is what is
  // measured) and so does the audit log: its cost is measured by bench/access.ts, on PostgreSQL.
  const env = {
    MODELGATE_DATA_DIR: dataDir,
    MODELGATE_ADMIN_TOKEN: token,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    CACHE_MAX_ITEMS: '0',
    AUDIT_LOG: process.env.BENCH_AUDIT_LOG ?? 'off',
  };
  log('[1/5] training and registering the demo model');
  const trained = trainLogisticRegression(generateHotelBookings(20000, 42));
  const config = loadConfig(env);
  const ctx = await openContext(config, createLogger('warn'));
  const policy = { type: 'threshold' as const, threshold: trained.threshold, above: 'act', below: 'none' };
  const reg = await ctx.registry.register({ model: 'hotel-cancel', onnx: trained.onnx, policy, actor: 'bench' });
  await ctx.registry.promote({ model: 'hotel-cancel', target: 'production', version: reg.version, actor: 'bench' });
  // A second version (other weights) for the canary case.
  const challenger = trainLogisticRegression(generateHotelBookings(20000, 43), { l2: 2 });
  const canaryVersion = (await ctx.registry.register({ model: 'hotel-cancel', onnx: challenger.onnx, policy, actor: 'bench' })).version;
  await ctx.close();
  // No event_id or routing_key: keyless requests spread evenly over the canary arms.
  const body = JSON.stringify({ model: 'hotel-cancel', payload: rowPayload(trained.holdout.data, 0) });
  const admin = (url: string, p: string, payload: unknown) =>
    fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(payload) }).then(async (r) => {
      if (r.status !== 200) throw new Error(`${p} answered ${r.status}: ${await r.text()}`);
    });

  log('[2/5] starting modelgate (one process) and the bare node:http baseline');
  const mg = await startChild(['src/cli/main.ts', 'serve', '--json'], env);
  const sample = await fetch(`${mg.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  if (sample.status !== 200) throw new Error(`modelgate answered ${sample.status}: ${await sample.text()}`);
  const replyBytes = (await sample.text()).length;
  const bare = await startChild(['bench/bare-server.ts'], { REPLY_BYTES: String(replyBytes) });
  try {
    await warm(mg.url, body);
    await warm(bare.url, body);
    // Alternate the two in rounds, so a noisy neighbour on a shared machine hits both alike.
    log(`[3/5] ${rounds} rounds of ${seconds}s each, alternating`);
    const mgRuns: autocannon.Result[] = [];
    const bareRuns: autocannon.Result[] = [];
    for (let r = 1; r <= rounds; r++) {
      mgRuns.push(await load(`modelgate round ${r}`, mg.url, body, seconds));
      bareRuns.push(await load(`bare round ${r}`, bare.url, body, seconds));
    }
    // What a canary costs is small next to this machine's drift over a 10 s round, so it is
    // measured in short slices that alternate between no canary and a freshly started 50/50 one.
    log(`[4/5] canary: ${canaryPairs} pairs of ${canarySlice}s slices, without / with a 50/50 canary`);
    // The analysis would roll a canary back when its p95 strays past 1.3x production's, which a
    // loaded 2-core machine can do by chance; the case measures routing, so it never acts.
    const startCanary = { model: 'hotel-cancel', canary_version: canaryVersion, canary_percent: 50, analysis: { max_error_ratio: 1e6, max_p95_ratio: 1e6 } };
    await admin(mg.url, '/v1/canary', startCanary);
    await warm(mg.url, body, 2); // the canary version's first runs and code paths, unmeasured
    await admin(mg.url, '/v1/canary/hotel-cancel/stop', {});
    let canaryOn = false;
    const canary = await alternate(
      'canary',
      {
        url: mg.url,
        before: async () => {
          if (!canaryOn) await admin(mg.url, '/v1/canary', startCanary);
          canaryOn = true;
        },
      },
      {
        url: mg.url,
        before: async () => {
          if (canaryOn) await admin(mg.url, '/v1/canary/hotel-cancel/stop', {});
          canaryOn = false;
        },
      },
      body,
      canaryPairs,
      canarySlice,
    );
    log('[5/5] results');
    const summary = (name: string, runs: autocannon.Result[]) => ({
      name,
      rps: Math.round(runs.reduce((a, x) => a + x.requests.average, 0) / runs.length),
      p50_ms: Math.max(...runs.map((x) => x.latency.p50)),
      p99_ms: Math.max(...runs.map((x) => x.latency.p99)),
    });
    const rows = [summary('modelgate /v1/infer', mgRuns), summary('bare node:http', bareRuns)];
    // modelgate / bare is the median of per-round ratios: a noisy spell on a shared machine then spoils one round, not the figure.
    const perRound = (a: autocannon.Result[], b: autocannon.Result[]) => a.map((x, i) => x.requests.average / b[i].requests.average);
    const ratio = median(perRound(mgRuns, bareRuns));
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const lines = [
      `single-row /v1/infer, ${connections} connections, ${rounds} x ${seconds}s per server, reply ${replyBytes} bytes, ${os.cpus().length} cores (load generator on the same machine)`,
      '',
      'server                   req/s     p50 ms   p99 ms',
      ...rows.map((x) => `${x.name.padEnd(23)} ${String(x.rps).padStart(7)}   ${String(x.p50_ms).padStart(6)}   ${String(x.p99_ms).padStart(6)}`),
      '',
      `throughput ratio modelgate / bare: ${ratio.toFixed(2)} (target >= 0.5; median of rounds ${fmt(perRound(mgRuns, bareRuns))})`,
      `modelgate p99: ${rows[0].p99_ms} ms, worst round (target <= 5 ms)`,
      `throughput ratio with a 50/50 canary / without: ${canary.ratio.toFixed(2)} (target >= 0.95; ${canary.aRps} vs ${canary.bRps} req/s; ${canaryPairs} pairs of ${canarySlice}s slices, per pair ${fmt(canary.perPair)})`,
      `server CPU per request with a 50/50 canary / without: ${(canary.aCpuUs / canary.bCpuUs).toFixed(2)} (${canary.aCpuUs.toFixed(1)} vs ${canary.bCpuUs.toFixed(1)} µs)`,
      `p99 with a 50/50 canary / without: ${median(canary.p99Ms.a)} / ${median(canary.p99Ms.b)} ms (median of slices; worst ${Math.max(...canary.p99Ms.a)} / ${Math.max(...canary.p99Ms.b)} ms)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      path.join(outDir, 'infer-latest.json'),
      JSON.stringify({ at: new Date().toISOString(), connections, seconds, rounds, replyBytes, canaryPairs, canarySlice, rows, ratio, canary }, null, 2),
    );
  } finally {
    mg.child.kill('SIGTERM');
    bare.child.kill('SIGTERM');
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
