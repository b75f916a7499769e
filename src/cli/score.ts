import type { Command } from 'commander';
import { notNumbersNote } from '../lib/csv-cell.js';
import { fullestDir, isNoSpace, noSpaceError } from '../lib/disk-space.js';
import { AppError } from '../lib/errors.js';
import { createPendingOutput, openDataStream } from '../lib/data-location.js';
import { Servable } from '../inference/index.js';
import { scoreFile } from '../inference/score-file.js';
import { parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

interface ScoreFlags extends OutputOptions {
  model: string;
  version?: string;
  alias?: string;
  data: string;
  out: string;
  rejects?: string;
  id?: string;
  allowRejects?: boolean;
}

/** Rows/s over the run so far, for the progress line. */
const rate = (rows: number, startedNs: bigint) => Math.round(rows / (Number(process.hrtime.bigint() - startedNs) / 1e9));

export function registerScoreCommands(program: Command): void {
  program
    .command('score')
    .description(
      "Score an unlabelled CSV (local or s3://) through exactly the serving code (the version's encoder, engine and policy), streamed: writes the row number, the id column(s) and score/label/probabilities/value and decision; rows that cannot be scored go to a rejects file with the reason and fail the command unless --allow-rejects",
    )
    .requiredOption('--model <name>', 'model')
    .option('--version <n>', 'version to score with')
    .option('--alias <name>', 'alias to score with (default production)')
    .requiredOption('--data <csv>', 'rows to score: a CSV file or s3://bucket/key, with a header naming every model feature')
    .requiredOption('--out <csv>', 'where the scored rows go: a file or s3://bucket/key (written whole at the end, never half)')
    .option('--rejects <csv>', 'where rows that cannot be scored go (default: beside --out, .rejects.csv)')
    .option('--id <columns>', 'comma-separated input columns to copy to the output for joining (default: columns named id or ending in id)')
    .option('--allow-rejects', 'publish the output even when some rows cannot be scored (they are counted by reason and in the rejects file)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate score --model churn --data customers.csv --out scored.csv\n  modelgate score --model car-price --version 3 --data s3://lake/listings.csv --out s3://lake/scored/listings.csv --id listing_id --allow-rejects --json',
    )
    .action(async (o: ScoreFlags) =>
      withContext(o, async (ctx) => {
        if (o.version && o.alias) throw new AppError('BAD_REQUEST', 'give --version or --alias, not both');
        const version = o.version ? parseVersion(o.version)! : await ctx.registry.versionOfAlias(o.model, o.alias ?? 'production');
        const found = await ctx.registry.source.fetch(o.model, version);
        if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${o.model} has no version ${version}`);
        const s3 = { region: ctx.config.S3_REGION, endpoint: ctx.config.S3_ENDPOINT };
        const rejectsAt = o.rejects ?? (o.out.endsWith('.csv') ? `${o.out.slice(0, -4)}.rejects.csv` : `${o.out}.rejects.csv`);
        const servable = await Servable.load(found.bytes, found.spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
        const input = await openDataStream(o.data, s3);
        const output = await createPendingOutput(o.out, s3, { flag: '--out', example: 'scored.csv' });
        const rejects = await createPendingOutput(rejectsAt, s3, { flag: o.rejects ? '--rejects' : '--out (its .rejects.csv)', example: 'rejects.csv' }).catch(async (e: unknown) => {
          await output.discard();
          throw e;
        });
        const started = process.hrtime.bigint();
        let reported = 0;
        try {
          progress(`scoring ${o.data} with ${o.model} version ${version} (${servable.task})…`);
          const r = await scoreFile({
            servable,
            input,
            output: output.stream,
            rejects: rejects.stream,
            idColumns: o.id
              ?.split(',')
              .map((c) => c.trim())
              .filter(Boolean),
            source: o.data,
            onProgress: (rows) => {
              if (rows - reported < 50_000) return;
              reported = rows;
              progress(`  ${rows.toLocaleString('en')} rows (${rate(rows, started).toLocaleString('en')} rows/s)`);
            },
          });
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const failed = r.rejected > 0 && !o.allowRejects;
          if (failed) await output.discard();
          else await output.publish();
          if (r.rejected) await rejects.publish();
          else await rejects.discard();
          const summary = {
            model: o.model,
            version,
            task: servable.task,
            data: o.data,
            out: failed ? null : o.out,
            rejects_file: r.rejected ? rejectsAt : null,
            rows: r.rows,
            scored: r.scored,
            rejected: r.rejected,
            reasons: r.reasons,
            not_numbers: r.notNumbers,
            unseen_categories: r.unseen,
            columns: r.columns,
            seconds: Math.round(seconds * 1000) / 1000,
            rows_per_second: Math.round(r.rows / seconds),
          };
          const read = notNumbersNote(r.notNumbers, r.notNumberExamples, r.rows);
          emit(o, summary, () =>
            [
              `${r.scored.toLocaleString('en')} of ${r.rows.toLocaleString('en')} rows scored in ${seconds.toFixed(1)} s (${summary.rows_per_second.toLocaleString('en')} rows/s)${failed ? '' : ` → ${o.out}`}`,
              `columns: ${r.columns.join(', ')}`,
              ...(read ? [read] : []),
              ...(r.unseenNote ? [`warning: ${r.unseenNote}`] : []),
              ...(r.rejected
                ? [
                    `${r.rejected} row${r.rejected === 1 ? '' : 's'} rejected → ${rejectsAt}:`,
                    ...Object.entries(r.reasons)
                      .sort((a, b) => b[1] - a[1])
                      .slice(0, 10)
                      .map(([why, n]) => `  ${n} × ${why}`),
                  ]
                : []),
            ].join('\n'),
          );
          if (failed) {
            progress(
              `error: ${r.rejected} of ${r.rows} rows cannot be scored (reasons in ${rejectsAt}); nothing was written to ${o.out}. Fix the data, or pass --allow-rejects to write the other rows`,
            );
            process.exitCode = 1;
          }
        } catch (e) {
          // Said before the partial files go, so the free space shown is what the write met.
          const error = isNoSpace(e) ? noSpaceError(e, fullestDir([o.out, rejectsAt]), `nothing was written to ${o.out}`) : e;
          input.destroy();
          await output.discard();
          await rejects.discard();
          throw error;
        } finally {
          await servable.release();
        }
      }),
    );
}
