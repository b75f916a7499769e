import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { AUDIT_ARMS, checkRange, csvRows, parseFlagTime, predictionPages, trainingCsv, type TrainingColumns } from '../audit/index.js';
import { createPendingOutput, writeText } from '../lib/data-location.js';
import { fullestDir, isNoSpace, noSpaceError } from '../lib/disk-space.js';
import { AppError } from '../lib/errors.js';
import type { Context } from '../server/context.js';
import { parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';
import { knownTarget } from './training-file.js';

const PAGE = 1000;

/**
 * A training file's columns, from the version whose features it holds (--version, else
 * production): its contract's features in order, and its run's target name, so retrain and
 * evaluate find the column they read (an imported version's outcome goes in its reference's
 * `--target` column, else in `outcome`).
 */
async function trainingColumns(ctx: Context, o: { model?: string; version?: string; format: string }): Promise<{ version: number; columns: TrainingColumns }> {
  if (!o.model) throw new AppError('BAD_REQUEST', "--training-data holds one model's features: give --model");
  if (o.format !== 'csv') throw new AppError('BAD_REQUEST', '--training-data writes a CSV: leave out --format');
  const version = o.version ? parseVersion(o.version)! : await ctx.registry.versionOfAlias(o.model, 'production');
  const v = await ctx.registry.getVersion(o.model, version);
  const run = v.manifest.training as { class_labels?: unknown; split?: { kind?: string; time_column?: string } } | undefined;
  const features = v.manifest.contract.features.map((f: { name: string }) => f.name);
  const named = knownTarget(v.manifest)?.column;
  // A feature of that name keeps its column: the outcome takes another.
  const target = named && !features.includes(named) ? named : features.includes('outcome') ? 'real_outcome' : 'outcome';
  const labels = Array.isArray(run?.class_labels) && run.class_labels.length === 2 ? (run.class_labels.map(String) as [string, string]) : undefined;
  // Trained with --split time: the prediction's time in that column, which a retrain splits by.
  const time = run?.split?.kind === 'time' && run.split.time_column && !features.includes(run.split.time_column) && run.split.time_column !== target ? run.split.time_column : undefined;
  return { version, columns: { features, target, ...(time ? { time } : {}), ...(labels ? { classLabels: labels } : {}) } };
}

export function registerPredictionCommands(program: Command): void {
  const predictions = program.command('predictions').description('The prediction audit log');

  predictions
    .command('export')
    .description('Stream audited predictions as CSV or JSON lines, page by page (never all in memory)')
    .option('--model <name>', 'only this model')
    .option('--from <time>', 'a date (midnight UTC), a date and time with its zone, or how long ago (24h, 7d), inclusive')
    .option('--to <time>', 'a date (midnight UTC), a date and time with its zone, or how long ago (1h), exclusive')
    .option('--decision <name>', 'only predictions with this decision')
    .option('--version <n>', 'only this model version')
    .option('--arm <arm>', 'only this arm: production, canary, pinned or shadow (what a shadow version decided, never returned)')
    .option('--format <csv|jsonl>', 'output format', 'csv')
    .option(
      '--training-data',
      "only predictions with a real outcome, as a CSV that train, retrain and evaluate read: event_id, one column per feature of the version (--version, else production) as sent, and the outcome under the version's training target name (else outcome); needs --model",
    )
    .option('--out <file>', 'write here (atomically: a temp file renamed when complete) instead of stdout')
    .option('--json', 'with --out: print the summary as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate predictions export --model churn --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z > day.csv\n  modelgate predictions export --model churn --from 24h --out last-day.csv\n  modelgate predictions export --model churn --training-data --from 2026-11-01 --out labelled.csv\n  modelgate predictions export --model churn --arm shadow --version 4 --out shadow.csv\n  modelgate predictions export --model churn --format jsonl --out churn.jsonl --json',
    )
    .action(async (o: OutputOptions & { model?: string; from?: string; to?: string; decision?: string; version?: string; arm?: string; format: string; out?: string; trainingData?: boolean }) =>
      withContext(o, async (ctx) => {
        if (o.format !== 'csv' && o.format !== 'jsonl') throw new AppError('BAD_REQUEST', `--format must be csv or jsonl, got ${JSON.stringify(o.format)}`);
        const now = new Date();
        const from = parseFlagTime(o.from, '--from', now);
        const to = parseFlagTime(o.to, '--to', now);
        checkRange(from, to, ['--from', '--to']);
        if (o.arm !== undefined && !(AUDIT_ARMS as readonly string[]).includes(o.arm)) throw new AppError('BAD_REQUEST', `--arm must be one of ${AUDIT_ARMS.join(', ')}, got ${JSON.stringify(o.arm)}`);
        const filter = { model: o.model, from, to, decision: o.decision, version: parseVersion(o.version), arm: o.arm, labelled: o.trainingData };
        const training = o.trainingData ? await trainingColumns(ctx, o) : undefined;
        // A file is written under a temporary name and renamed into place whole (its directory made if missing).
        const file = o.out ? await createPendingOutput(o.out, { region: ctx.config.S3_REGION, endpoint: ctx.config.S3_ENDPOINT }, { flag: '--out', example: 'predictions.csv' }) : undefined;
        const out: Writable = file ? file.stream : process.stdout;
        let n = 0;
        const writer = training ? trainingCsv(training.columns) : undefined;
        try {
          if (!writer && o.format === 'csv') await writeText(out, csvRows([], true));
          for await (const rows of predictionPages(ctx.audit, filter, PAGE)) {
            if (writer) {
              // The header with the first row: a range with nothing to train on writes nothing, to stdout too.
              const text = writer.rows(rows);
              if (text) await writeText(out, n === 0 ? writer.header() + text : text);
              n = writer.counts.written;
            } else {
              await writeText(out, o.format === 'csv' ? csvRows(rows, false) : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
              n += rows.length;
            }
            if (n % 50_000 < PAGE) progress(`exported ${n} predictions…`);
          }
          // Nothing to train on is said before an empty file is published.
          if (training && n === 0)
            throw new AppError(
              'NOT_FOUND',
              writer!.counts.withoutFeatures
                ? `none of the ${writer!.counts.withoutFeatures} labelled predictions of ${o.model} kept its features (AUDIT_FEATURES is hashed or none), so there is nothing to train on; nothing was written`
                : `no prediction of ${o.model}${o.version ? ` version ${o.version}` : ''} in that range has a real outcome yet; feed outcomes back (POST /v1/feedback, modelgate feedback import) first; nothing was written`,
            );
          await file?.publish();
        } catch (e) {
          // Said before the partial file goes, so the free space shown is what the write met.
          const error = o.out && isNoSpace(e) ? noSpaceError(e, fullestDir([o.out]), `nothing was written to ${o.out}`) : e;
          await file?.discard();
          throw error;
        }
        const summary = {
          rows: n,
          format: o.format,
          ...(o.out ? { file: o.out.startsWith('s3://') ? o.out : path.resolve(o.out) } : {}),
          ...(training
            ? {
                training_data: {
                  version: training.version,
                  features: training.columns.features.length,
                  target: training.columns.target,
                  ...(training.columns.time ? { time_column: training.columns.time } : {}),
                  without_features: writer!.counts.withoutFeatures,
                  repeats: writer!.counts.repeats,
                },
              }
            : {}),
        };
        const lines = () => {
          const what = training
            ? `${n} labelled predictions as training data (event_id, ${training.columns.features.length} features of version ${training.version}, ${training.columns.time ? `each prediction's time as ${training.columns.time}, ` : ''}target ${training.columns.target})`
            : `${n} predictions`;
          return [
            `exported ${what}${summary.file ? ` to ${summary.file}` : ''}`,
            ...(writer?.counts.repeats ? [`${writer.counts.repeats} repeats of an event with the same features and outcome left out (each kept once)`] : []),
            ...(writer?.counts.withoutFeatures ? [`warning: ${writer.counts.withoutFeatures} labelled predictions kept no features (AUDIT_FEATURES hashed or none) and were left out`] : []),
            ...(training && summary.file ? [`next: modelgate evaluate --model ${o.model} --data ${o.out}, or modelgate retrain --model ${o.model} --data ${o.out}`] : []),
          ].join('\n');
        };
        if (o.out) emit(o, summary, lines);
        else progress(lines());
      }),
    );
}
