import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { checkRange, csvRows, parseTime, predictionPages } from '../audit/index.js';
import { AppError } from '../lib/errors.js';
import { withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

const PAGE = 1000;

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export function registerPredictionCommands(program: Command): void {
  const predictions = program.command('predictions').description('The prediction audit log');

  predictions
    .command('export')
    .description('Stream audited predictions as CSV or JSON lines, page by page (never all in memory)')
    .option('--model <name>', 'only this model')
    .option('--from <time>', 'a date (midnight UTC) or a date and time with its zone, inclusive')
    .option('--to <time>', 'a date (midnight UTC) or a date and time with its zone, exclusive')
    .option('--format <csv|jsonl>', 'output format', 'csv')
    .option('--out <file>', 'write here (atomically: a temp file renamed when complete) instead of stdout')
    .option('--json', 'with --out: print the summary as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate predictions export --model churn --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z > day.csv\n  modelgate predictions export --model churn --format jsonl --out churn.jsonl --json',
    )
    .action(async (o: OutputOptions & { model?: string; from?: string; to?: string; format: string; out?: string }) =>
      withContext(o, async (ctx) => {
        if (o.format !== 'csv' && o.format !== 'jsonl') throw new AppError('BAD_REQUEST', `--format must be csv or jsonl, got ${JSON.stringify(o.format)}`);
        const from = parseTime(o.from, '--from');
        const to = parseTime(o.to, '--to');
        checkRange(from, to, ['--from', '--to']);
        const tmp = o.out ? path.join(path.dirname(path.resolve(o.out)), `.${path.basename(o.out)}.${process.pid}.tmp`) : undefined;
        const out: Writable = tmp ? createWriteStream(tmp) : process.stdout;
        let n = 0;
        try {
          if (o.format === 'csv') await write(out, csvRows([], true));
          for await (const rows of predictionPages(ctx.audit, { model: o.model, from, to }, PAGE)) {
            await write(out, o.format === 'csv' ? csvRows(rows, false) : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
            n += rows.length;
            if (n % 50_000 < PAGE) progress(`exported ${n} predictions…`);
          }
          if (tmp) {
            out.end();
            await once(out, 'finish');
            await rename(tmp, path.resolve(o.out!));
          }
        } catch (e) {
          if (tmp) await rm(tmp, { force: true });
          throw e;
        }
        const summary = { rows: n, format: o.format, ...(o.out ? { file: path.resolve(o.out) } : {}) };
        if (o.out) emit(o, summary, () => `exported ${n} predictions to ${summary.file}`);
        else progress(`exported ${n} predictions`);
      }),
    );
}
