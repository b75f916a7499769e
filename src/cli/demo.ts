import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { loadConfig, unreadVariables, type Config } from '../config.js';
import type { Policy } from '../inference/index.js';
import type { Logger } from '../lib/logger.js';
import { ingestCsv, TRAINED_CELL_READING } from '../training/csv.js';
import { generateCarListings } from '../training/synthetic-cars.js';
import { indexSplit } from '../training/train.js';
import { trainKindModel } from '../training/train-kinds.js';
import { createLogger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/files.js';
import { sha256 } from '../registry/index.js';
import { openContext } from '../server/context.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression, type Dataset } from '../training/index.js';
import { cliActor } from './context.js';
import { fail, progress, type OutputOptions } from './output.js';
import { closeOnSignals } from './serve.js';
import { urlHost } from '../lib/url-host.js';

const MODEL = 'hotel-cancel';
const CAR_MODEL = 'car-price';
/** Price bands of the regression demo's policy (USD). */
const CAR_POLICY: Policy = {
  type: 'bands',
  bands: [
    { decision: 'low', below: 5000 },
    { decision: 'mid', below: 20000 },
    { decision: 'high', below: null },
  ],
};

/** Both demos hold out every fourth row (row i when i % 4 == 0), as `train`'s default index split. */
const DEMO_SPLIT = { kind: 'index', test_fraction: 0.25 } as const;

/** What a demo prepared: the model it registered and promoted, rows to show, and what to print. */
interface Prepared {
  model: string;
  version: number;
  examples: Record<string, unknown>[];
  summary: Record<string, unknown>;
  /** The first curl line's comment. */
  what: string;
}

/** The regression demo: car listings with real-world dirt, a gradient-boosted price model, price bands. */
async function prepareCars(config: Config, rows: number): Promise<Prepared> {
  progress(`[1/4] generating ${rows} synthetic used-car listings (with missing cells, odometers typed as "120k", NaN and Infinity prices)`);
  const { csv } = generateCarListings(rows, 7);
  const csvFile = path.join(config.dataDir, 'demo', 'car_listings.csv');
  await writeFileAtomic(csvFile, csv);
  progress(`      wrote ${csvFile}`);
  progress('[2/4] training (gradient-boosted trees, regression on price)');
  const ingested = await ingestCsv(csvFile, { target: 'price', onProgress: (m) => progress(`      ${m.trim()}`) });
  for (const w of ingested.warnings) progress(`      warning: ${w}`);
  const split = indexSplit(ingested.data, 0.25);
  const t = trainKindModel({ data: ingested.data, algo: 'gbdt', split, policy: CAR_POLICY });
  progress(`      held out: MAE ${t.metrics.mae.toFixed(0)} USD, R² ${t.metrics.r2.toFixed(4)}, MAPE ${(t.metrics.mape * 100).toFixed(1)} %`);
  progress(`[3/4] registering and promoting ${CAR_MODEL}`);
  const ctx = await openContext(config, createLogger('warn', process.stderr));
  let version: number;
  try {
    const reg = await ctx.registry.register({
      model: CAR_MODEL,
      onnx: t.onnx,
      task: 'regression',
      manifest: {
        description: 'Used-car price (synthetic demo listings): low under 5,000, mid under 20,000, else high',
        metrics: t.metrics,
        // The run record `retrain` repeats: the demo's CSV trained again is a new version.
        training: {
          ...t.run,
          dataset: { file: csvFile, sha256: ingested.sha256, rows_read: ingested.rowsRead },
          columns: ingested.columns.map((c) => ({ name: c.name, role: c.role })),
          split: DEMO_SPLIT,
          target: 'price',
          task: 'regression',
          gates: {},
        },
        run_id: t.run.run_id,
        ...TRAINED_CELL_READING,
        dataset_sha256: ingested.sha256,
        reference: t.reference,
      },
      policy: CAR_POLICY,
      actor: cliActor(),
    });
    version = reg.version;
    await ctx.registry.promote({ model: CAR_MODEL, target: 'production', version, actor: cliActor() });
  } finally {
    await ctx.close();
  }
  progress(`      ${CAR_MODEL} version ${version} is in production`);
  return {
    model: CAR_MODEL,
    version,
    examples: [rowPayload(split.test, 0), rowPayload(split.test, 1)],
    summary: { task: 'regression', metrics: t.metrics, policy: CAR_POLICY, data: csvFile },
    what: 'price one listing',
  };
}

/** `w` as one shell word: bare when it is plainly safe, else single-quoted. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

function toCsv(d: Dataset): string {
  const cols = [...Object.keys(d.numeric), ...Object.keys(d.categorical)];
  const rows = Array.from({ length: d.rows }, (_, i) => {
    const p = rowPayload(d, i);
    return [...cols.map((c) => p[c] ?? ''), d.label[i]];
  });
  return stringify([[...cols, 'is_canceled'], ...rows]);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Generate data, train a model, register and promote it, and serve it with example curl lines: hotel-booking cancellations (binary, the default) or used-car prices (--task regression)',
    )
    .option('--task <binary|regression>', 'binary: hotel-booking cancellations; regression: used-car prices from dirty listings', 'binary')
    .option('--rows <n>', 'rows of synthetic data', '20000')
    .option('--port <port>', 'port to serve on (default: PORT or 8080)')
    .option('--no-serve', 'stop after registering and promoting')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  npm run demo\n  modelgate demo --task regression\n  modelgate demo --port 9090\n  modelgate demo --no-serve --json')
    .action(async (o: OutputOptions & { rows: string; port?: string; serve: boolean; task: string }) => {
      try {
        // Not mg_-shaped: API keys are, and a demo admin token must never be mistaken for a mistyped key.
        const token = process.env.MODELGATE_ADMIN_TOKEN ?? `demo-admin-${randomBytes(24).toString('hex')}`;
        const config = loadConfig({
          ...process.env,
          MODELGATE_ADMIN_TOKEN: token,
          HOST: process.env.HOST ?? '127.0.0.1',
          ...(o.port ? { PORT: o.port } : {}),
        });
        for (const w of unreadVariables()) progress(`warning: ${w}`);
        // Quiet while preparing, so the banner and curl lines stand out; the server logs at LOG_LEVEL.
        const quiet = createLogger('warn', process.stderr);
        const rows = Number(o.rows);
        if (!Number.isInteger(rows) || rows < 1000) throw new Error('--rows must be a whole number of at least 1000');
        if (o.task !== 'binary' && o.task !== 'regression') throw new Error(`--task must be binary or regression, got ${JSON.stringify(o.task)}`);
        const prepared = o.task === 'regression' ? await prepareCars(config, rows) : await prepareHotel(config, rows, quiet);
        const { model, version, examples } = prepared;
        const summary = { model, version, ...prepared.summary, token };
        if (!o.serve) {
          // The token is the admin token of a server started with it, and of no other (each demo run makes a new one).
          // Runnable as printed from the clone (npx, as the serving demo's lines), on the port asked for.
          const serveWith = `MODELGATE_ADMIN_TOKEN=${token} MODELGATE_DATA_DIR=${shellWord(config.dataDir)} npx modelgate serve${o.port ? ` --port ${shellWord(o.port)}` : ''}`;
          process.stdout.write(
            o.json
              ? `${JSON.stringify({ ...summary, token_for: `a server started with: ${serveWith}` }, null, 2)}\n`
              : `registered ${model} v${version}\nstart a server that accepts this admin token with:\n  ${serveWith}\n(a server started any other way, such as npm run demo, has an admin token of its own)\n`,
          );
          return;
        }

        progress('[4/4] serving');
        const log = createLogger(config.LOG_LEVEL, undefined, config.LOG_FORMAT);
        const { startServer } = await import('../server/start.js');
        const server = await startServer(config, log);
        closeOnSignals(server, log, config.SHUTDOWN_DELAY_MS, config.SHUTDOWN_GRACE_MS);
        const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : urlHost(config.HOST);
        const base = `http://${host}:${(server.app.server.address() as { port: number }).port}`;
        const auth = `-H "Authorization: Bearer ${token}"`;
        const body = JSON.stringify({ model, event_id: `${o.task === 'regression' ? 'listing' : 'booking'}-1`, payload: examples[0] });
        const batch = JSON.stringify({ instances: examples });
        const oip = JSON.stringify({
          id: 'oip-1',
          inputs: Object.entries(examples[0]).map(([name, v]) => ({ name, datatype: typeof v === 'string' ? 'BYTES' : 'FP32', shape: [1], data: [v] })),
        });
        const lines = [
          '',
          `modelgate is serving ${model} v${version} at ${base}`,
          `admin token of this server (a new one each demo run unless MODELGATE_ADMIN_TOKEN is set): ${token}`,
          '',
          `# ${prepared.what}`,
          `curl -s ${auth} -H 'Content-Type: application/json' ${base}/v1/infer -d '${body}'`,
          '# score a batch',
          `curl -s ${auth} -H 'Content-Type: application/json' ${base}/v1/models/${model}/predict -d '${batch}'`,
          '# the same through the Open Inference Protocol (KServe, Triton, MLServer clients)',
          `curl -s ${auth} -H 'Content-Type: application/json' ${base}/v2/models/${model}/infer -d '${oip}'`,
          '# models, health, metrics, API docs',
          `curl -s ${auth} ${base}/v1/models`,
          `curl -s ${base}/health`,
          `curl -s ${base}/metrics | grep modelgate_`,
          `open ${base}/docs`,
          '# the console: models, rollouts, drift and decisions in the browser (sign in with the admin token above)',
          `open ${base}/ui/`,
          '',
          `In another shell, the CLI acts on the same registry (MODELGATE_DATA_DIR=${config.dataDir}):`,
          `  npx modelgate models ${model}`,
          '',
          'Ctrl-C stops the server.',
        ];
        if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, url: base, console: `${base}/ui/` })}\n`);
        else process.stdout.write(`${lines.join('\n')}\n`);
      } catch (e) {
        fail(o, e);
      }
    });
}

/** The binary demo: hotel bookings, a logistic regression, a threshold that maximises holdout profit. */
async function prepareHotel(config: Config, rows: number, quiet: Logger): Promise<Prepared> {
  progress(`[1/4] generating ${rows} synthetic hotel bookings`);
  const data = generateHotelBookings(rows, 42);
  const csv = toCsv(data);
  const csvFile = path.join(config.dataDir, 'demo', 'hotel_bookings.csv');
  await writeFileAtomic(csvFile, csv);
  progress(`      wrote ${csvFile}`);

  progress('[2/4] training');
  const result = trainLogisticRegression(data, { onProgress: (m) => progress(`      ${m}`) });
  const m = result.metrics;
  progress(
    `      held out: ROC AUC ${m.roc_auc.toFixed(4)}, log loss ${m.log_loss.toFixed(4)}; act when score >= ${result.threshold.toFixed(4)} (maximises profit, 30 a caught cancellation, -20 a false alarm)`,
  );
  progress(`      F1 ${m.f1.toFixed(4)}, expected profit ${m.expected_profit_per_row.toFixed(2)} a booking (each half of the held-out rows decided at the threshold chosen on the other half)`);

  progress(`[3/4] registering and promoting ${MODEL}`);
  const ctx = await openContext(config, quiet);
  let version: number;
  try {
    const reg = await ctx.registry.register({
      model: MODEL,
      onnx: result.onnx,
      manifest: {
        description: 'Hotel booking cancellation (synthetic demo data): act = ask for a deposit or reconfirm',
        metrics: result.metrics,
        training: {
          ...result.run,
          dataset: { file: csvFile, sha256: sha256(csv), rows_read: data.rows },
          columns: [...Object.keys(data.numeric).map((name) => ({ name, role: 'numeric' })), ...Object.keys(data.categorical).map((name) => ({ name, role: 'categorical' }))],
          split: DEMO_SPLIT,
          target: 'is_canceled',
          task: 'binary',
          gates: {},
        },
        run_id: result.run.run_id,
        ...TRAINED_CELL_READING,
        dataset_sha256: sha256(csv),
        reference: result.reference,
      },
      policy: result.policy,
      actor: cliActor(),
    });
    version = reg.version;
    await ctx.registry.promote({ model: MODEL, target: 'production', version, actor: cliActor() });
  } finally {
    await ctx.close();
  }
  progress(`      ${MODEL} version ${version} is in production`);
  return {
    model: MODEL,
    version,
    examples: [rowPayload(result.holdout.data, 0), rowPayload(result.holdout.data, 1)],
    summary: { metrics: result.metrics, threshold: result.threshold, data: csvFile },
    what: 'score one booking',
  };
}
