import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { loadConfig } from '../config.js';
import { createLogger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/files.js';
import { sha256 } from '../registry/index.js';
import { openContext } from '../server/context.js';
import { startServer } from '../server/start.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression, type Dataset } from '../training/index.js';
import { cliActor } from './context.js';
import { fail, progress, type OutputOptions } from './output.js';
import { closeOnSignals } from './serve.js';

const MODEL = 'hotel-cancel';

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
    .description('Generate hotel-booking data, train a model, register and promote it, and serve it with example curl lines')
    .option('--rows <n>', 'rows of synthetic data', '20000')
    .option('--port <port>', 'port to serve on (default: PORT or 8080)')
    .option('--no-serve', 'stop after registering and promoting')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  npm run demo\n  modelgate demo --port 9090\n  modelgate demo --no-serve --json')
    .action(async (o: OutputOptions & { rows: string; port?: string; serve: boolean }) => {
      try {
        // Not mg_-shaped: API keys are, and a demo admin token must never be mistaken for a mistyped key.
        const token = process.env.MODELGATE_ADMIN_TOKEN ?? `demo-admin-${randomBytes(24).toString('hex')}`;
        const config = loadConfig({
          ...process.env,
          MODELGATE_ADMIN_TOKEN: token,
          HOST: process.env.HOST ?? '127.0.0.1',
          ...(o.port ? { PORT: o.port } : {}),
        });
        // Quiet while preparing, so the banner and curl lines stand out; the server logs at LOG_LEVEL.
        const quiet = createLogger('warn', process.stderr);
        const rows = Number(o.rows);
        if (!Number.isInteger(rows) || rows < 1000) throw new Error('--rows must be a whole number of at least 1000');

        progress(`[1/4] generating ${rows} synthetic hotel bookings`);
        const data = generateHotelBookings(rows, 42);
        const csv = toCsv(data);
        const csvFile = path.join(config.dataDir, 'demo', 'hotel_bookings.csv');
        await writeFileAtomic(csvFile, csv);
        progress(`      wrote ${csvFile}`);

        progress('[2/4] training');
        const result = trainLogisticRegression(data, { onProgress: (m) => progress(`      ${m}`) });
        progress(`      holdout ROC AUC ${result.metrics.roc_auc.toFixed(4)}, log loss ${result.metrics.log_loss.toFixed(4)}, threshold ${result.threshold} (best profit on holdout)`);

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
              training: result.run,
              run_id: result.run.run_id,
              missing_category: '',
              dataset_sha256: sha256(csv),
              reference: result.reference,
            },
            policy: { type: 'threshold', threshold: result.threshold, above: 'act', below: 'none' },
            actor: cliActor(),
          });
          version = reg.version;
          await ctx.registry.promote({ model: MODEL, target: 'production', version, actor: cliActor() });
        } finally {
          await ctx.close();
        }
        progress(`      ${MODEL} version ${version} is in production`);

        const example = rowPayload(result.holdout.data, 0);
        const summary = { model: MODEL, version, metrics: result.metrics, threshold: result.threshold, token, data: csvFile };
        if (!o.serve) {
          // The token is the admin token of a server started with it, and of no other (each demo run makes a new one).
          const serveWith = `MODELGATE_ADMIN_TOKEN=${token} MODELGATE_DATA_DIR=${config.dataDir} modelgate serve`;
          process.stdout.write(
            o.json
              ? `${JSON.stringify({ ...summary, token_for: `a server started with: ${serveWith}` }, null, 2)}\n`
              : `registered ${MODEL} v${version}\nstart a server that accepts this admin token with:\n  ${serveWith}\n(a server started any other way, such as npm run demo, has an admin token of its own)\n`,
          );
          return;
        }

        progress('[4/4] serving');
        const log = createLogger(config.LOG_LEVEL);
        const server = await startServer(config, log);
        closeOnSignals(server, log, config.SHUTDOWN_DELAY_MS, config.SHUTDOWN_GRACE_MS);
        const base = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${(server.app.server.address() as { port: number }).port}`;
        const auth = `-H "Authorization: Bearer ${token}"`;
        const body = JSON.stringify({ model: MODEL, event_id: 'booking-1', payload: example });
        const batch = JSON.stringify({ instances: [example, rowPayload(result.holdout.data, 1)] });
        const lines = [
          '',
          `modelgate is serving ${MODEL} v${version} at ${base}`,
          `admin token of this server (a new one each demo run unless MODELGATE_ADMIN_TOKEN is set): ${token}`,
          '',
          '# score one booking',
          `curl -s ${auth} -H 'Content-Type: application/json' ${base}/v1/infer -d '${body}'`,
          '# score a batch',
          `curl -s ${auth} -H 'Content-Type: application/json' ${base}/v1/models/${MODEL}/predict -d '${batch}'`,
          '# models, health, metrics, API docs',
          `curl -s ${auth} ${base}/v1/models`,
          `curl -s ${base}/health`,
          `curl -s ${base}/metrics | grep modelgate_`,
          `open ${base}/docs`,
          '',
          `In another shell, the CLI acts on the same registry (MODELGATE_DATA_DIR=${config.dataDir}):`,
          `  npx modelgate models ${MODEL}`,
          '',
          'Ctrl-C stops the server.',
        ];
        if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, url: base })}\n`);
        else process.stdout.write(`${lines.join('\n')}\n`);
      } catch (e) {
        fail(o, e);
      }
    });
}
