/**
 * npm run bench (third part): one monitoring run over 1,000,000 logged predictions with 20
 * features on PostgreSQL (target: ≤ 10 s, bounded memory). Printed beside a baseline measured
 * in the same run: reading the same rows' features and nothing else.
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; a schema of
 * its own is made and dropped) and BENCH_MONITOR_ROWS (default 1000000).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { log, root } from './harness.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { generateHotelBookings, trainLogisticRegression } from '../src/training/index.js';
import { seededRandom } from '../src/training/random.js';

const pgUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const rows = Number(process.env.BENCH_MONITOR_ROWS ?? 1_000_000);
const EXTRA = ['nights_total', 'days_to_arrival_weekday', 'children', 'babies', 'waiting_days', 'country_risk'];

/** Peak resident memory while fn runs, sampled every 20 ms, above what it was at the start. */
async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakMb: number }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = process.hrtime.bigint();
  try {
    const value = await fn();
    return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9, peakMb: (Math.max(peak, process.memoryUsage().rss) - base) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function main() {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect().catch((e) => {
    throw new Error(`cannot reach PostgreSQL at ${pgUrl} (${(e as Error).message}); set BENCH_DATABASE_URL`);
  });
  try {
    await admin.query(`create schema ${schema}`);
    const dbUrl = `${pgUrl}?options=-c%20search_path%3D${schema}`;
    const env = { MODELGATE_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'modelgate-bench-monitor-')), DATABASE_URL: dbUrl, LOG_LEVEL: 'warn', MODELGATE_AUTH: 'off' };

    log('[1/4] training a 20-feature model (the demo data and 6 more numeric columns)');
    const data = generateHotelBookings(20000, 42);
    const rand = seededRandom(7);
    for (const c of EXTRA) data.numeric[c] = Float64Array.from({ length: data.rows }, () => Math.round(rand() * 30));
    const trained = trainLogisticRegression(data);
    const ctx = await openContext(loadConfig(env), createLogger('warn'));
    try {
      await ctx.registry.register({
        model: 'hotel',
        onnx: trained.onnx,
        manifest: { reference: trained.reference, metrics: trained.metrics, training: trained.run },
        policy: { type: 'threshold', threshold: trained.threshold, above: 'act', below: 'none' },
        actor: 'bench',
      });
      await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 'bench' });
      const features = ctx.registry.getVersion('hotel', 1).then((v) => v.contract.features.length);
      log(`      ${await features} features`);

      log(`[2/4] logging ${rows.toLocaleString('en')} predictions in PostgreSQL (generated in SQL, 100,000 per statement)`);
      const to = new Date();
      const spanMs = 23 * 3_600_000;
      for (let done = 0; done < rows; done += 100_000) {
        const n = Math.min(100_000, rows - done);
        await admin.query(
          `insert into ${schema}.predictions (id, at, model, version, arm, event_id, features, features_sha256, score, decision, latency_ms, cached, key_id)
           select md5(random()::text || g::text), $1::timestamptz - (random() * $2::float8) * interval '1 millisecond', 'hotel', 1, 'production', null,
             jsonb_build_object(
               'lead_time', floor(random() * 400), 'adr', case when random() < 0.02 then null else round((50 + random() * 150)::numeric, 2) end,
               'stays_in_weekend_nights', floor(random() * 4), 'stays_in_week_nights', floor(random() * 8), 'adults', 1 + floor(random() * 3),
               'previous_cancellations', floor(random() * 2), 'booking_changes', floor(random() * 3), 'total_of_special_requests', floor(random() * 4),
               'required_car_parking_spaces', floor(random() * 2), 'is_repeated_guest', floor(random() * 2),
               'hotel', (array['City Hotel','Resort Hotel'])[1 + floor(random() * 2)::int],
               'deposit_type', (array['No Deposit','Non Refund','Refundable'])[1 + floor(random() * 3)::int],
               'market_segment', (array['Online TA','Offline TA/TO','Groups','Direct','Corporate','Aviation'])[1 + floor(random() * 6)::int],
               'customer_type', (array['Transient','Transient-Party','Contract','Group'])[1 + floor(random() * 4)::int],
               ${EXTRA.map((c) => `'${c}', floor(random() * 40)`).join(', ')}),
             null, random(), case when random() < 0.3 then 'act' else 'none' end, 1.0, 0, null
           from generate_series(1, $3::int) g`,
          [to.toISOString(), spanMs, n],
        );
        log(`      ${(done + n).toLocaleString('en')} rows`);
      }
      await admin.query(`analyze ${schema}.predictions`);

      log('[3/4] baseline: streaming every logged payload of the window once, parsed by the driver, nothing else');
      const from = new Date(to.getTime() - 24 * 3_600_000).toISOString();
      const baseline = await measured(async () => {
        let n = 0;
        const stream = ctx.db.kysely.selectFrom('predictions').select(['features']).where('model', '=', 'hotel').where('at', '>=', from).where('at', '<', to.toISOString()).stream(20_000);
        for await (const r of stream) if (r.features) n++;
        return n;
      });

      log('[4/4] the monitoring run');
      const run = await measured(() => ctx.monitoring.run('hotel', 24 * 3_600_000, { onProgress: (n) => n % 200_000 === 0 && log(`      ${n.toLocaleString('en')} predictions read`) }));
      const report = run.value.report;
      const lines = [
        `monitoring ${report.predictions.toLocaleString('en')} logged predictions x ${report.features.length} features on PostgreSQL, ${os.cpus().length} cores`,
        '',
        `monitor run:                ${run.seconds.toFixed(2)} s (target <= 10 s), peak memory +${run.peakMb.toFixed(0)} MB`,
        `baseline (read payloads):   ${baseline.seconds.toFixed(2)} s, peak memory +${baseline.peakMb.toFixed(0)} MB (${baseline.value.toLocaleString('en')} rows)`,
        `monitor / baseline:         ${(run.seconds / baseline.seconds).toFixed(2)}`,
        `drifted features: ${report.features.filter((f) => f.drifted).length} of ${report.features.length}; alerts firing: ${
          report.alerts
            .filter((a) => a.firing)
            .map((a) => a.name)
            .join(', ') || 'none'
        }`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      const outDir = path.join(root, 'bench', 'results');
      mkdirSync(outDir, { recursive: true });
      writeFileSync(
        path.join(outDir, 'monitor-latest.json'),
        JSON.stringify(
          {
            at: new Date().toISOString(),
            rows: report.predictions,
            features: report.features.length,
            seconds: run.seconds,
            peakMb: run.peakMb,
            baselineSeconds: baseline.seconds,
            baselinePeakMb: baseline.peakMb,
          },
          null,
          2,
        ),
      );
    } finally {
      await ctx.close();
    }
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
