import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import type { FeedbackItem } from '../audit/index.js';
import { cellNumber, numberText } from '../lib/csv-cell.js';
import { fileDelimiter } from '../lib/csv-delimiter.js';
import { csvRows } from '../lib/csv-rows.js';
import { assertInputFile } from '../lib/user-paths.js';
import { AppError } from '../lib/errors.js';
import { cliActor, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

const BATCH = 1000;
/** The columns an outcomes file may have; others are ignored. */
const FEEDBACK_COLUMNS = ['prediction_id', 'event_id', 'label', 'value'];

/** decimalComma: a file not separated by commas may write 21,5 for 21.5 (a regression label, a value). */
function toItem(r: Record<string, string>, decimalComma: boolean): FeedbackItem {
  const value = (r.value ?? '').trim();
  return {
    ...(r.prediction_id?.trim() ? { prediction_id: r.prediction_id.trim() } : {}),
    ...(r.event_id?.trim() ? { event_id: r.event_id.trim() } : {}),
    // As text: the service reads it by the version's kind (0/1 and yes/no for binary, a class, a value).
    label: numberText((r.label ?? '').trim(), decimalComma),
    ...(value ? { value: cellNumber(value, decimalComma) ?? value } : {}),
  };
}

export function registerFeedbackCommands(program: Command): void {
  const feedback = program.command('feedback').description('Real outcomes for audited predictions');

  feedback
    .command('import')
    .description(
      "Import outcomes from a CSV with columns prediction_id or event_id, label (binary 0/1, true/false, yes/no or the model's class labels, multiclass the class, regression the value), value (optional realised profit)",
    )
    .requiredOption('--file <csv>', 'CSV file with a header row')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate feedback import --file outcomes.csv\n\noutcomes.csv:\n  event_id,label,value\n  booking-1,1,-120\n  booking-2,0,35')
    .action(async (o: OutputOptions & { file: string }) =>
      withContext(o, async (ctx) => {
        assertInputFile(o.file, 'give the path of a CSV file');
        const delimiter = await fileDelimiter(o.file);
        let line = 1; // the header
        let stored = 0;
        // Rows whose outcome is not known yet (a blank label): left out and counted, not refused.
        let unlabelled = 0;
        const errors: { line: number; message: string }[] = [];
        let batch: { line: number; item: FeedbackItem }[] = [];
        const send = async () => {
          const out = await ctx.feedback.submit(
            batch.map((b) => b.item),
            cliActor(),
          );
          stored += out.stored;
          for (const r of out.results) if (r.status === 'error') errors.push({ line: batch[r.index].line, message: r.error.message.replace(/^items\[\d+\]\.?/, '') });
          batch = [];
          // A line every 50,000 rows, as the export does: a line per batch was 200 lines for 200,000 outcomes.
          if ((line - 1) % 50_000 < BATCH) progress(`imported ${stored} outcomes${errors.length ? `, ${errors.length} refused` : ''}…`);
        };
        const onHeader = (header: string[]) => {
          if (!header.includes('label')) throw new AppError('BAD_REQUEST', `${o.file}: no label column; the header must name prediction_id or event_id, label and optionally value`);
          return FEEDBACK_COLUMNS.filter((c) => header.includes(c));
        };
        const rows = csvRows(createReadStream(o.file), { delimiter, source: o.file, name: (h) => h.trim().toLowerCase(), trim: true, onHeader });
        for await (const { row, values, misaligned } of rows) {
          line = row + 1;
          if (misaligned) {
            errors.push({ line, message: misaligned });
            continue;
          }
          if (!(values.label ?? '').trim()) {
            unlabelled++;
            continue;
          }
          batch.push({ line, item: toItem(values, delimiter !== ',') });
          if (batch.length >= BATCH) await send();
        }
        if (batch.length) await send();
        // Misaligned rows were refused as they were read, the others when their batch was sent.
        errors.sort((a, b) => a.line - b.line);
        const summary = { file: o.file, rows: line - 1, stored, unlabelled, refused: errors.length, errors: errors.slice(0, 100) };
        emit(o, summary, () =>
          [
            `${stored} of ${line - 1} outcomes stored from ${o.file}${unlabelled ? `; ${unlabelled} row${unlabelled > 1 ? 's' : ''} with a blank label (no outcome yet) left out` : ''}`,
            ...errors.slice(0, 20).map((e) => `  line ${e.line}: ${e.message}`),
            ...(errors.length > 20 ? [`  … and ${errors.length - 20} more`] : []),
          ].join('\n'),
        );
        if (errors.length) process.exitCode = 1;
      }),
    );
}
