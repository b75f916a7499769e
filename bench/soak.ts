/**
 * npm run bench:soak: one server under steady load for SOAK_MINUTES (default 12) with every
 * background job busy — a canary with its arm statistics and analysis, the audit log, scheduled
 * monitoring, a webhook subscription with a local receiver, registry and key polls — and every
 * interval shortened (500 ms to 1 minute instead of seconds to hours), so a day's worth of
 * ticks happens in minutes. Every 10 s it reads the server's heap in use, RSS, active handles
 * (prom-client's default metrics) and open file descriptors (/proc/PID/fd). Printed: one line
 * per minute (heap as the minimum of the minute's samples, which is close to the heap after
 * each collection), then, after the first SOAK_WARMUP_MINUTES (default 2): the heap's growth
 * per 10 minutes (least-squares slope of the per-minute minima) and the change in handles and
 * descriptors. Targets: heap growth under 1 MB per 10 minutes; no growth in handles or
 * descriptors. Environment: SOAK_MINUTES, SOAK_WARMUP_MINUTES, SOAK_RATE (requests/s, default 200).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ADMIN_TOKEN, log, root } from './harness.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';

const minutes = Number(process.env.SOAK_MINUTES ?? 12);
const warmup = Number(process.env.SOAK_WARMUP_MINUTES ?? 2);
const rate = Number(process.env.SOAK_RATE ?? 200);

interface Sample {
  at: number;
  heap: number;
  rss: number;
  handles: number;
  fds: number;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`/metrics has no ${name}`);
  return Number(m[1]);
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

let started = 0;

async function main() {
  if (minutes <= warmup) throw new Error(`SOAK_MINUTES (${minutes}) must exceed SOAK_WARMUP_MINUTES (${warmup})`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-soak-'));
  const env: Record<string, string> = {
    MODELGATE_DATA_DIR: dataDir,
    MODELGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    WEBHOOK_ALLOW_PRIVATE: 'on',
    RELOAD_INTERVAL_MS: '500',
    STATS_FLUSH_INTERVAL_MS: '500',
    ANALYSIS_INTERVAL_MS: '1000',
    MONITOR_TICK_MS: '2000',
    MONITOR_INTERVAL: '1m',
    MONITOR_WINDOW: '5m',
    WEBHOOK_TICK_MS: '500',
    AUDIT_FLUSH_MS: '100',
  };

  log('[1/4] training the demo model, registering it twice, starting a canary and a webhook subscription');
  const data = generateHotelBookings(5000, 11);
  const trained = trainLogisticRegression(data);
  const received = { count: 0 };
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.count++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const ctx = await openContext(loadConfig(env), createLogger('warn'));
  try {
    for (let i = 0; i < 2; i++) {
      await ctx.registry.register({ model: 'hotel', onnx: trained.onnx, manifest: { reference: trained.reference, metrics: trained.metrics }, actor: 'soak' });
    }
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 'soak' });
    await ctx.webhooks.add({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, actor: 'soak' });
    // The same model as canary: analysis runs every second and finds nothing to roll back; steps far apart keep it running.
    await ctx.rollouts.startCanary({ model: 'hotel', canary_version: 2, canary_percent: 20, steps: [20, 50], step_interval: '1d', actor: 'soak' });
  } finally {
    await ctx.close();
  }

  // --trace-gc prints the heap after every full collection (Mark-Compact): the honest measure of
  // what stays alive, where a sampled heap mostly shows when the last collection ran.
  // Worker threads (the SQLite audit writer, the shadow scorer) trace their own isolates: keep each apart.
  const afterMajorGc: { at: number; mb: number; isolate: string }[] = [];
  const server = await new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--trace-gc', '--import', 'tsx', 'src/cli/main.ts', 'serve', '--json'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    let url = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const gc = /^\[\d+:(0x[0-9a-f]+)\].*Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
        if (gc && started) afterMajorGc.push({ at: (Date.now() - started) / 60_000, mb: Number(gc[2]), isolate: gc[1] });
        if (!url && line.startsWith('{') && line.includes('"url"')) {
          url = JSON.parse(line).url as string;
          resolve({ child, url });
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`modelgate serve exited with ${code}`)));
  });
  const pid = server.child.pid!;
  log(`[2/4] server ${server.url} (pid ${pid}); ${rate} req/s for ${minutes} minutes, distinct rows`);
  let i = 0;
  const load = autocannon(
    {
      url: `${server.url}/v1/infer`,
      connections: 8,
      overallRate: rate,
      duration: minutes * 60 + 5,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ model: 'hotel', event_id: `e${i}`, payload: rowPayload(data, i++ % data.rows) }) }),
        },
      ],
    },
    (err) => err && log(`load failed: ${err.message}`),
  );
  let failures = 0;
  load.on('response', (_client: unknown, status: number) => {
    if (status !== 200) failures++;
  });

  const samples: Sample[] = [];
  started = Date.now();
  const sample = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    samples.push({
      at: (Date.now() - started) / 60_000,
      heap: metric(text, 'nodejs_heap_size_used_bytes'),
      rss: metric(text, 'process_resident_memory_bytes'),
      handles: metric(text, 'nodejs_active_handles_total'),
      fds: readdirSync(`/proc/${pid}/fd`).length,
    });
  };
  log('[3/4] sampling every 10 s');
  while (Date.now() - started < minutes * 60_000) {
    await sample();
    const last = samples[samples.length - 1];
    if (samples.length % 6 === 0)
      log(
        `  ${last.at.toFixed(1)} min: heap ${(last.heap / 2 ** 20).toFixed(1)} MB, rss ${(last.rss / 2 ** 20).toFixed(0)} MB, handles ${last.handles}, fds ${last.fds}, webhooks received ${received.count}`,
      );
    await new Promise((r) => setTimeout(r, 10_000));
  }
  load.stop();
  server.child.kill('SIGTERM');
  receiver.close();

  log('[4/4] results');
  const perMinute = new Map<number, Sample[]>();
  for (const s of samples) {
    const m = Math.floor(s.at);
    perMinute.set(m, [...(perMinute.get(m) ?? []), s]);
  }
  const rows = [...perMinute.entries()].map(([m, ss]) => ({
    minute: m,
    heap: Math.min(...ss.map((s) => s.heap)) / 2 ** 20,
    rss: Math.max(...ss.map((s) => s.rss)) / 2 ** 20,
    handles: Math.max(...ss.map((s) => s.handles)),
    fds: Math.max(...ss.map((s) => s.fds)),
  }));
  const lines = [
    `soak: ${minutes} min at ${rate} req/s (distinct rows), canary analysis every 1 s, stats flush 0.5 s, monitor every 1 min, webhooks, audit on; ${failures} non-200 replies; ${received.count} webhooks received`,
    '',
    'minute   heap MB (min)   rss MB (max)   handles   fds',
    ...rows.map((r) => `${String(r.minute).padStart(6)}   ${r.heap.toFixed(1).padStart(13)}   ${r.rss.toFixed(0).padStart(12)}   ${String(r.handles).padStart(7)}   ${String(r.fds).padStart(3)}`),
  ];
  // The main thread's isolate is the one holding the largest heap.
  const main = afterMajorGc.reduce<{ isolate: string; mb: number } | undefined>((m, g) => (!m || g.mb > m.mb ? g : m), undefined)?.isolate;
  const mainGc = afterMajorGc.filter((g) => g.isolate === main);
  const gcAfter = mainGc.filter((g) => g.at >= warmup);
  lines.push('', `main thread's heap after each full collection (--trace-gc), ${mainGc.length} in all: ${mainGc.map((g) => `${g.at.toFixed(1)} min ${g.mb.toFixed(1)} MB`).join(', ')}`);
  const gcPer10 =
    gcAfter.length >= 3
      ? slope(
          gcAfter.map((g) => g.at),
          gcAfter.map((g) => g.mb),
        ) * 10
      : Number.NaN;
  const after = rows.filter((r) => r.minute >= warmup && r.minute < minutes);
  const heapPer10 =
    slope(
      after.map((r) => r.minute),
      after.map((r) => r.heap),
    ) * 10;
  // Handles and descriptors move with the connections open at the moment of a sample: compare
  // the highest of the first third after warm-up with the highest of the last third.
  const third = Math.max(1, Math.floor(after.length / 3));
  const peak = (rs: typeof after, k: 'handles' | 'fds') => Math.max(...rs.map((r) => r[k]));
  const [early, late] = [after.slice(0, third), after.slice(-third)];
  const handleGrowth = peak(late, 'handles') - peak(early, 'handles');
  const fdGrowth = peak(late, 'fds') - peak(early, 'fds');
  lines.push(
    '',
    `after ${warmup} min of warm-up (${after.length} minutes):`,
    Number.isNaN(gcPer10)
      ? '  heap after full collections: fewer than 3 after warm-up, no trend (run longer)'
      : `  heap after full collections: ${gcPer10.toFixed(2)} MB per 10 min over ${gcAfter.length} collections (target < 1) ${gcPer10 < 1 ? 'met' : 'NOT met'}`,
    `  heap sampled every 10 s (minimum per minute; moves with when collections ran): ${heapPer10.toFixed(2)} MB per 10 min`,
    `  active handles, highest in the first and last ${third} min: ${peak(early, 'handles')} → ${peak(late, 'handles')} (${handleGrowth >= 0 ? '+' : ''}${handleGrowth}) ${handleGrowth <= 0 ? 'no growth' : 'GROWTH'}`,
    `  file descriptors, the same: ${peak(early, 'fds')} → ${peak(late, 'fds')} (${fdGrowth >= 0 ? '+' : ''}${fdGrowth}) ${fdGrowth <= 0 ? 'no growth' : 'GROWTH'}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
