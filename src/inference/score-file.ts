import type { Readable, Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { assertFeatureColumns } from '../lib/column-names.js';
import { writeText } from '../lib/data-location.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { csvPayloadReader } from '../lib/csv-cell.js';
import { streamDelimiter } from '../lib/csv-delimiter.js';
import { csvRows } from '../lib/csv-rows.js';
import { countReason } from '../lib/reason-counts.js';
import type { Row } from './encoder.js';
import { UnseenCategories, type UnseenSummary } from './unseen-category.js';
import type { Servable } from './servable.js';

const BATCH = 512;

export interface ScoreFileOptions {
  servable: Servable;
  input: Readable;
  /** Where scored rows go (CSV with a header). */
  output: Writable;
  /** Where rows that cannot be scored go (CSV: row, id columns, reason). */
  rejects: Writable;
  /** Input columns copied to both outputs to join results back; default: columns named id or ending in id. */
  idColumns?: string[];
  /** For messages: the input's name. */
  source: string;
  onProgress?: (rows: number) => void;
}

export interface ScoreFileResult {
  rows: number;
  scored: number;
  rejected: number;
  /** Why rows were rejected: reason → rows. */
  reasons: Record<string, number>;
  /** A version modelgate trained: per column, cells that are not numbers, scored as missing (as train read them). */
  notNumbers: Record<string, number>;
  /** The first such cell of each of those columns. */
  notNumberExamples: Record<string, string>;
  /** Per feature, rows scored with a category the version does not know (as unseen), and the commonest such values. */
  unseen: UnseenSummary;
  /** The same for people, or undefined when there were none. */
  unseenNote?: string;
  idColumns: string[];
  columns: string[];
}

/** Output columns per task after the row number and id columns. */
function predictionColumns(s: Servable): string[] {
  if (s.task === 'regression') return ['value', 'decision'];
  if (s.task === 'multiclass') return ['label', ...(s.spec.output.class_labels ?? []).map((c) => `probability_${c}`), 'score', 'decision'];
  return ['score', 'decision'];
}

/** A failed write to the output or rejects file, told apart from a failure to read the CSV. */
class OutputFailed extends Error {
  constructor(readonly failure: unknown) {
    super(errorMessage(failure));
  }
}

async function write(stream: Writable, text: string): Promise<void> {
  try {
    await writeText(stream, text);
  } catch (e) {
    throw new OutputFailed(e);
  }
}

/**
 * Score a CSV through the serving code (the version's encoder, engine and policy) as a
 * stream: rows are read, scored and written 512 at a time, so a file of any size needs the
 * memory of one batch. Cells are typed by the contract as `evaluate` and `--reference` type
 * them; a row the contract refuses goes to the rejects file with the encoder's message.
 */
export async function scoreFile(o: ScoreFileOptions): Promise<ScoreFileResult> {
  const s = o.servable;
  const features = s.spec.contract.features;
  const reasons: Record<string, number> = {};
  let rows = 0;
  let scored = 0;
  let rejected = 0;
  let idColumns: string[] = [];
  const columns = ['row', ...predictionColumns(s)];
  let pending: { line: number; ids: string[]; payload: Record<string, unknown> }[] = [];
  const unseen = new UnseenCategories();

  const reject = async (line: number, ids: string[], why: string) => {
    rejected++;
    // The reason without the row's own values, so rejects group by cause.
    const cause = why.replace(/^row\./, '');
    countReason(reasons, cause);
    await write(o.rejects, stringify([[line, ...ids, why]]));
  };

  const flush = async () => {
    const ok: { line: number; ids: string[]; row: Row }[] = [];
    for (const p of pending) {
      try {
        const enc = s.encoder.encode(p.payload, 'row');
        for (const i of enc.unseen ?? []) unseen.add(features[i].name, enc.row[i] as string);
        ok.push({ line: p.line, ids: p.ids, row: enc.row });
      } catch (e) {
        await reject(p.line, p.ids, errorMessage(e));
      }
    }
    pending = [];
    if (!ok.length) return;
    const outcomes = await s.scoreMany(ok.map((r) => r.row));
    const records = ok.map((r, i) => {
      const outcome = outcomes[i];
      const p = s.present(outcome, s.decide(outcome));
      if (s.task === 'regression') return [r.line, ...r.ids, p.value, p.decision];
      if (s.task === 'multiclass') return [r.line, ...r.ids, p.label, ...(outcome.probabilities ?? []), p.score, p.decision];
      return [r.line, ...r.ids, p.score, p.decision];
    });
    scored += records.length;
    await write(o.output, stringify(records));
    o.onProgress?.(rows);
  };

  const { delimiter, input } = await streamDelimiter(o.input);
  const reader = csvPayloadReader(features, s.spec.contract, delimiter !== ',');
  const onHeader = (header: string[]) => {
    assertFeatureColumns(
      o.source,
      header,
      features.map((f) => f.name),
    );
    idColumns = o.idColumns ?? header.filter((c) => /(^|[^a-z])id$|^id$|Id$|ID$/.test(c));
    const missingIds = idColumns.filter((c) => !header.includes(c));
    if (missingIds.length) throw new AppError('BAD_REQUEST', `${o.source}: no id column ${missingIds.join(', ')} (from --id); its columns are ${header.join(', ')}`);
    columns.splice(1, 0, ...idColumns);
    return [...features.map((f) => f.name), ...idColumns];
  };
  let row = 0;
  try {
    for await (const r of csvRows(input, { delimiter, source: o.source, onHeader })) {
      row = r.row;
      if (rows === 0) {
        await write(o.output, stringify([columns]));
        await write(o.rejects, stringify([['row', ...idColumns, 'reason']]));
      }
      rows++;
      const ids = idColumns.map((c) => r.values[c] ?? '');
      if (r.misaligned) {
        // Flush first, so the rejects file stays in row order.
        await flush();
        await reject(r.row, ids, r.misaligned);
        continue;
      }
      pending.push({ line: r.row, ids, payload: reader.read(r.values) });
      if (pending.length >= BATCH) await flush();
    }
    await flush();
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (e instanceof OutputFailed) throw e.failure;
    throw new AppError('BAD_REQUEST', `${o.source}: cannot read as CSV (after row ${row}): ${errorMessage(e)}`);
  }
  if (rows === 0) throw new AppError('BAD_REQUEST', `${o.source}: no rows (a CSV with a header line and one row per prediction)`);
  return { rows, scored, rejected, reasons, notNumbers: reader.notNumbers, notNumberExamples: reader.examples, unseen: unseen.summary(), unseenNote: unseen.note(features), idColumns, columns };
}
