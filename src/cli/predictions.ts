import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { AUDIT_ARMS, checkRange, csvRows, parseTime, predictionPages } from '../audit/index.js';
import { createPendingOutput, writeText } from '../lib/data-location.js';
import { fullestDir, isNoSpace, noSpaceError } from '../lib/disk-space.js';
import { AppError } from '../lib/errors.js';
import { parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

const PAGE = 1000;

export function registerPredictionCommands(program: Command): void {
  const predictions = program.command('predictions').description('The prediction audit log');

  predictions
    .command('export')
    .description('Stream audited predictions as CSV or JSON lines, page by page (never all in memory)')
    .option('--model <name>', 'only this model')
    .option('--from <time>', 'a date (midnight UTC) or a date and time with its zone, inclusive')
    .option('--to <time>', 'a date (midnight UTC) or a date and time with its zone, exclusive')
    .option('--decision <name>', 'only predictions with this decision')
    .option('--version <n>', 'only this model version')
    .option('--arm <arm>', 'only this arm: production, canary, pinned or shadow (what a shadow version decided, never returned)')
    .option('--format <csv|jsonl>', 'output format', 'csv')
    .option('--out <file>', 'write here (atomically: a temp file renamed when complete) instead of stdout')
    .option('--json', 'with --out: print the summary as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate predictions export --model churn --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z > day.csv\n  modelgate predictions export --model churn --arm shadow --version 4 --out shadow.csv\n  modelgate predictions export --model churn --format jsonl --out churn.jsonl --json',
    )
    .action(async (o: OutputOptions & { model?: string; from?: string; to?: string; decision?: string; version?: string; arm?: string; format: string; out?: string }) =>
      withContext(o, async (ctx) => {
        if (o.format !== 'csv' && o.format !== 'jsonl') throw new AppError('BAD_REQUEST', `--format must be csv or jsonl, got ${JSON.stringify(o.format)}`);
        const from = parseTime(o.from, '--from');
        const to = parseTime(o.to, '--to');
        checkRange(from, to, ['--from', '--to']);
        if (o.arm !== undefined && !(AUDIT_ARMS as readonly string[]).includes(o.arm)) throw new AppError('BAD_REQUEST', `--arm must be one of ${AUDIT_ARMS.join(', ')}, got ${JSON.stringify(o.arm)}`);
        const filter = { model: o.model, from, to, decision: o.decision, version: parseVersion(o.version), arm: o.arm };
        // A file is written under a temporary name and renamed into place whole (its directory made if missing).
        const file = o.out ? await createPendingOutput(o.out, { region: ctx.config.S3_REGION, endpoint: ctx.config.S3_ENDPOINT }, { flag: '--out', example: 'predictions.csv' }) : undefined;
        const out: Writable = file ? file.stream : process.stdout;
        let n = 0;
        try {
          if (o.format === 'csv') await writeText(out, csvRows([], true));
          for await (const rows of predictionPages(ctx.audit, filter, PAGE)) {
            await writeText(out, o.format === 'csv' ? csvRows(rows, false) : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
            n += rows.length;
            if (n % 50_000 < PAGE) progress(`exported ${n} predictions…`);
          }
          await file?.publish();
        } catch (e) {
          // Said before the partial file goes, so the free space shown is what the write met.
          const error = o.out && isNoSpace(e) ? noSpaceError(e, fullestDir([o.out]), `nothing was written to ${o.out}`) : e;
          await file?.discard();
          throw error;
        }
        const summary = { rows: n, format: o.format, ...(o.out ? { file: o.out.startsWith('s3://') ? o.out : path.resolve(o.out) } : {}) };
        if (o.out) emit(o, summary, () => `exported ${n} predictions to ${summary.file}`);
        else progress(`exported ${n} predictions`);
      }),
    );
}
