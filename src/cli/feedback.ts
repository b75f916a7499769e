import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { NOT_WRITTEN_YET, type FeedbackItem } from '../audit/index.js';
import { cellNumber, numberText } from '../lib/csv-cell.js';
import { fileDelimiter } from '../lib/csv-delimiter.js';
import { csvRows } from '../lib/csv-rows.js';
import { assertInputFile } from '../lib/user-paths.js';
import { AppError } from '../lib/errors.js';
import { cliActor, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

const BATCH = 1000;
/** The columns an outcomes file may have; others are ignored. */
const FEEDBACK_COLUMNS = ['prediction_id', 'event_id', 'model', 'label', 'value'];

/**
 * decimalComma: a file not separated by commas may write 21,5 for 21.5 (a regression label, a value).
 * model: --model, whose outcomes every row holds; else the row's model column, when the file has one.
 */
function toItem(r: Record<string, string>, decimalComma: boolean, model: string | undefined): FeedbackItem {
  const value = (r.value ?? '').trim();
  const modelName = model ?? r.model?.trim();
  return {
    ...(r.prediction_id?.trim() ? { prediction_id: r.prediction_id.trim() } : {}),
    ...(r.event_id?.trim() ? { event_id: r.event_id.trim() } : {}),
    ...(modelName ? { model: modelName } : {}),
    // As text: the service reads it by the version's kind (0/1 and yes/no for binary, a class, a value).
    label: numberText((r.label ?? '').trim(), decimalComma),
    ...(value ? { value: cellNumber(value, decimalComma) ?? value } : {}),
  };
}

/**
 * Which file column holds each field: the flag's column, else the field's own name (header names
 * compared trimmed and in any case). A column of a field's name that another column stands in
 * for is left unread, so `--label Churn` beside a stale `label` column reads Churn.
 */
function feedbackColumns(o: { eventId?: string; predictionId?: string; label?: string; value?: string }) {
  const flags = [
    ['prediction_id', o.predictionId, '--prediction-id'],
    ['event_id', o.eventId, '--event-id'],
    ['label', o.label, '--label'],
    ['value', o.value, '--value'],
  ] as const;
  const key = (column: string) => column.trim().toLowerCase();
  const given = flags.filter(([, column]) => column !== undefined).map(([field, column, flag]) => [field, column!.trim(), flag] as const);
  const byColumn = new Map<string, string>();
  for (const [field, column, flag] of given) {
    if (!column) throw new AppError('BAD_REQUEST', `${flag}: give the name of a column of the file`);
    const other = byColumn.get(key(column));
    if (other) throw new AppError('BAD_REQUEST', `${flag} and ${flags.find(([f]) => f === other)![2]} both name column ${JSON.stringify(column)}; each field needs a column of its own`);
    byColumn.set(key(column), field);
  }
  const replaced = new Set<string>(given.map(([field]) => field));
  return {
    given,
    fieldOf: (raw: string): string => {
      const k = key(raw);
      return byColumn.get(k) ?? (replaced.has(k) ? `(unread) ${k}` : k);
    },
  };
}

/** Which columns the ids were read from, and what they must hold, for an import that matched nothing. */
function idColumns(columns: ReturnType<typeof feedbackColumns>): string {
  const named = (field: string) => columns.given.find(([f]) => f === field)?.[1] ?? field;
  // The CLI reads DATABASE_URL, or the local SQLite file without it: not the server's database unless set alike.
  return `does column ${JSON.stringify(named('event_id'))} hold the event_id each request to /v1/infer sent (or ${JSON.stringify(named('prediction_id'))} the prediction_id it answered)? And is this the server's database (DATABASE_URL, or MODELGATE_DATA_DIR for SQLite)?`;
}

export function registerFeedbackCommands(program: Command): void {
  const feedback = program.command('feedback').description('Real outcomes for audited predictions');

  feedback
    .command('import')
    .description(
      "Import outcomes from a CSV with columns prediction_id or event_id, label (binary 0/1, true/false, yes/no or the model's class labels, multiclass the class, regression the value), model (optional: whose outcome, where several models scored an event id), value (optional realised profit)",
    )
    .requiredOption('--file <csv>', 'CSV file with a header row')
    .option('--event-id <column>', 'the column holding each event id (default event_id)')
    .option('--prediction-id <column>', 'the column holding each prediction id (default prediction_id)')
    .option('--label <column>', 'the column holding each outcome (default label)')
    .option('--value <column>', 'the column holding each realised value (default value)')
    .option('--model <name>', "the model whose outcomes these are, for event ids several models scored (else the file's model column, if any)")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate feedback import --file outcomes.csv\n  modelgate feedback import --file telco_churn.csv --event-id customerID --label Churn --json\n  modelgate feedback import --file chargebacks.csv --event-id transaction_id --label fraud --model fraud\n\noutcomes.csv:\n  event_id,label,value\n  booking-1,1,-120\n  booking-2,0,35',
    )
    .action(async (o: OutputOptions & { file: string; eventId?: string; predictionId?: string; label?: string; value?: string; model?: string }) =>
      withContext(o, async (ctx) => {
        assertInputFile(o.file, 'give the path of a CSV file');
        const model = o.model?.trim();
        if (model === '') throw new AppError('BAD_REQUEST', '--model: give the name of the model whose outcomes the file holds');
        // A misspelt model would refuse every row as unmatched, and the hint would doubt the id column instead.
        if (model !== undefined) await ctx.registry.getModel(model);
        const columns = feedbackColumns(o);
        const delimiter = await fileDelimiter(o.file);
        let rows = 0;
        let stored = 0;
        // Outcomes that replaced ones stored before, and of those the ones that differ: a file imported over another is said.
        let replaced = 0;
        let changed = 0;
        // Rows whose outcome is not known yet (a blank or missing-value label): left out and counted, not refused.
        let unlabelled = 0;
        const errors: { line: number; message: string }[] = [];
        // By cause: an outcomes export of every customer, of whom a few were scored, is thousands of one line.
        const refusedBy = { no_prediction: 0, invalid: 0, misaligned: 0 };
        let batch: { line: number; item: FeedbackItem }[] = [];
        const send = async () => {
          const out = await ctx.feedback.submit(
            batch.map((b) => b.item),
            cliActor(),
            undefined,
            { tokensAsNoOutcome: true },
          );
          stored += out.stored;
          replaced += out.replaced;
          changed += out.changed;
          for (const r of out.results)
            if (r.status === 'no_outcome') unlabelled++;
            else if (r.status === 'error') {
              // The service's item prefix off; its hint that a prediction may not be written yet is said once below.
              errors.push({ line: batch[r.index].line, message: r.error.message.replace(/^items\[\d+\](?:\.|: )?/, '').replace(` (${NOT_WRITTEN_YET})`, '') });
              refusedBy[r.error.code === 'NOT_FOUND' ? 'no_prediction' : 'invalid']++;
            }
          batch = [];
          // A line every 50,000 rows, as the export does: a line per batch was 200 lines for 200,000 outcomes.
          if (rows % 50_000 < BATCH) progress(`imported ${stored} outcomes${errors.length ? `, ${errors.length} refused` : ''}…`);
        };
        const written: string[] = [];
        const onHeader = (header: string[]) => {
          const shown = `its header is ${written.map((c) => JSON.stringify(c)).join(', ')}`;
          const missing = columns.given.filter(([field]) => !header.includes(field));
          if (missing.length) throw new AppError('BAD_REQUEST', `${o.file}: no column ${missing.map(([, column, flag]) => `${JSON.stringify(column)} (${flag})`).join(' or ')}; ${shown}`);
          const hint = 'or give the columns that hold them, e.g. --event-id customerID --label Churn';
          if (!header.includes('label')) {
            // One column besides the ids and value can only be the outcome: name the flag that reads it.
            const others = written.filter((c, i) => !['prediction_id', 'event_id', 'model', 'value'].includes(header[i]));
            const only = others.length === 1 && /^[\w.-]+$/.test(others[0]) ? `; --label ${others[0]} reads the outcomes from "${others[0]}"` : '';
            throw new AppError('BAD_REQUEST', `${o.file}: no label column (${shown})${only}; the header must name prediction_id or event_id, label and optionally model and value, ${hint}`);
          }
          if (!header.includes('prediction_id') && !header.includes('event_id'))
            throw new AppError('BAD_REQUEST', `${o.file}: no prediction_id or event_id column (${shown}), so no row can be matched to its prediction; name one in the header, ${hint}`);
          return FEEDBACK_COLUMNS.filter((c) => header.includes(c));
        };
        const name = (raw: string) => {
          written.push(raw.trim());
          return columns.fieldOf(raw);
        };
        const read = csvRows(createReadStream(o.file), { delimiter, source: o.file, name, trim: true, onHeader });
        for await (const { row, line, values, misaligned } of read) {
          rows = row;
          if (misaligned) {
            errors.push({ line, message: misaligned });
            refusedBy.misaligned++;
            continue;
          }
          // A blank label is no outcome yet. NA, ? and the other missing-value words are too, as the trainer and
          // evaluate read a label, unless the prediction's version has such a class (bank data's "?"): the service decides.
          if (!values.label?.trim()) {
            unlabelled++;
            continue;
          }
          batch.push({ line, item: toItem(values, delimiter !== ',', model) });
          if (batch.length >= BATCH) await send();
        }
        if (batch.length) await send();
        // Misaligned rows were refused as they were read, the others when their batch was sent.
        errors.sort((a, b) => a.line - b.line);
        const summary = { file: o.file, rows, stored, replaced, changed, unlabelled, refused: errors.length, refused_by: refusedBy, errors: errors.slice(0, 100) };
        if (changed)
          progress(
            `warning: ${changed} of the stored outcomes differ from the outcome their prediction had (of ${replaced} predictions that had one): reporting again replaces an outcome, so if ${o.file} is not a correction of what was imported before, import the right file again`,
          );
        const causes = [
          refusedBy.no_prediction
            ? `${refusedBy.no_prediction} with no prediction of that id in the audit log (not scored, or scored under another id; ${NOT_WRITTEN_YET.replace('; retry', ': import the file again')})`
            : '',
          refusedBy.invalid ? `${refusedBy.invalid} with an outcome or id the model cannot take` : '',
          refusedBy.misaligned ? `${refusedBy.misaligned} whose fields do not line up with the header` : '',
        ].filter(Boolean);
        emit(o, summary, () =>
          [
            `${stored} of ${rows} outcomes stored from ${o.file}${replaced ? ` (${replaced} replacing an outcome stored before, ${changed} of them with another outcome)` : ''}${unlabelled ? `; ${unlabelled} row${unlabelled > 1 ? 's' : ''} with no label (blank, or a missing-value token such as NA or ?: no outcome yet) left out` : ''}`,
            ...(errors.length ? [`${errors.length} refused: ${causes.join('; ')}`] : []),
            // Nothing matched at all: most often the wrong column was named, not thousands of unscored rows.
            ...(stored === 0 && refusedBy.no_prediction > 0 && refusedBy.no_prediction === errors.length ? [`no row matched a prediction: ${idColumns(columns)}`] : []),
            ...errors.slice(0, 20).map((e) => `  line ${e.line}: ${e.message}`),
            ...(errors.length > 20 ? [`  … and ${errors.length - 20} more (--json lists the first 100)`] : []),
          ].join('\n'),
        );
        if (errors.length) process.exitCode = 1;
      }),
    );
}
