import { createReadStream } from 'node:fs';
import { assertFeatureColumns, caseHint } from '../lib/column-names.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { binaryLabel, isMissingCell } from '../lib/missing.js';
import { cellNumber, csvPayloadReader } from '../lib/csv-cell.js';
import { fileDelimiter } from '../lib/csv-delimiter.js';
import { csvRows } from '../lib/csv-rows.js';
import { assertInputFile } from '../lib/user-paths.js';
import { cleanCategory } from '../lib/missing.js';
import { countReason } from '../lib/reason-counts.js';
import { positiveClassOf, UnseenCategories, type Outcome, type Policy, type Servable, type UnseenSummary } from '../inference/index.js';
import { buildReference, kindOf } from './profile.js';
import type { ReferenceProfile } from '../registry/index.js';
import { brier, logLoss, multiclassMetrics, regressionMetrics, rocAuc } from './statistics.js';

const BATCH = 512;

/** A binary target cell: 0/1-like text, else one of the model's own class labels (the positive class's is 1). */
function label(raw: string | undefined, column: string, line: number, classes: string[], positive: string | undefined): number | undefined {
  const y = binaryLabel(raw);
  if (y !== undefined) return y ?? undefined;
  const t = raw!.trim();
  if (classes.includes(t)) return t === positive ? 1 : 0;
  const named = classes.length ? `, or the model's classes ${classes.map((c) => JSON.stringify(c)).join(', ')} (${JSON.stringify(positive)} is 1)` : '';
  throw new AppError('BAD_REQUEST', `--target ${column}: line ${line} has ${JSON.stringify(raw)}; a target must be 0/1, yes/no or true/false${named}`);
}

/** A target cell per task: what it holds, or the reason the row is skipped. */
type TargetReader = (raw: string | undefined, line: number) => { y: number | string } | { skip: string };

function targetReader(s: Servable, column: string, decimalComma: boolean): TargetReader {
  if (s.task === 'regression') {
    return (raw) => {
      const n = isMissingCell(raw) ? undefined : cellNumber(raw!, decimalComma);
      return n !== undefined ? { y: n } : { skip: `no finite ${column} value` };
    };
  }
  if (s.task === 'multiclass') {
    // A class may look like a missing-value token (bank data has a "?" class): the model's classes win.
    const classes = new Set((s.spec.output.class_labels ?? []).map(String));
    return (raw) => {
      const t = raw?.trim();
      if (t !== undefined && classes.has(t)) return { y: t };
      return isMissingCell(raw) ? { skip: `no ${column} class` } : { y: t! };
    };
  }
  const positiveClass = positiveClassOf(s.task, s.spec.output);
  const classes = positiveClass === undefined ? [] : s.spec.output.class_labels!.map(String);
  const positive = positiveClass === undefined ? undefined : String(positiveClass);
  return (raw, line) => {
    const y = label(raw, column, line, classes, positive);
    return y === undefined ? { skip: `no ${column} label` } : { y };
  };
}

export interface ScoredCsv {
  /** Feature values per contract feature (as the payloads carried them). */
  columns: unknown[][];
  scores: number[];
  /** What the model said of each scored row (its score, and for multiclass its label and probabilities). */
  outcomes: Outcome[];
  /** With a target: the 0/1 label of each scored row (binary models). */
  labels: number[];
  /** With a target: the real value of each scored row (regression models). */
  actualValues: number[];
  /** With a target: the real class of each scored row, as text (multiclass models). */
  actualClasses: string[];
  skipped: number;
  /** Why rows were skipped: reason → rows (a refused field, or a missing label). */
  skippedReasons: Record<string, number>;
  /** Of the skipped rows, those whose target cell held no usable outcome (the model could score them). */
  untargeted: number;
  /** A version modelgate trained: per column, cells that are not numbers, read as missing (as train read them). */
  notNumbers: Record<string, number>;
  /** The first such cell of each of those columns. */
  notNumberExamples: Record<string, string>;
  /** Per feature, scored rows whose category the version does not know (scored as unseen), with the commonest such values. */
  unseen: UnseenSummary;
  /** The same for people, or undefined when there were none. */
  unseenNote?: string;
  firstError?: string;
}

/** Skipped rows, by reason, in words: "3 rows: row.country: null, …; 1 row: no label". */
function describeSkipped(reasons: Record<string, number>): string {
  return Object.entries(reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([why, n]) => `${n} row${n === 1 ? '' : 's'}: ${why}`)
    .join('; ');
}

/**
 * Rows are never skipped silently: numbers over the rows a model happens to accept are not
 * numbers of the data. Throws (nothing is written) naming the count and reasons, unless
 * `allowSkipped`; then returns the line to report. `subject` begins the message, e.g.
 * "holdout.csv" or "--reference train.csv"; `consequence` follows the reasons.
 */
export function checkSkipped(
  r: { skipped: number; skippedReasons: Record<string, number>; untargeted: number; scored: number },
  o: { subject: string; consequence?: string; allowSkipped: boolean; allowWhat: string },
): string | undefined {
  if (!r.skipped) return undefined;
  const why = describeSkipped(r.skippedReasons);
  if (!o.allowSkipped) {
    // Rows whose target cell is empty were scored; what they lack is the outcome to judge them by.
    const targetsOnly = r.untargeted === r.skipped;
    throw new AppError(
      'BAD_REQUEST',
      targetsOnly
        ? `${o.subject}: ${r.skipped} of ${r.skipped + r.scored} rows have no usable target (${why})${o.consequence ? `; ${o.consequence}` : ''}. Fill in or remove those rows, or pass --allow-skipped to ${o.allowWhat}`
        : `${o.subject}: ${r.skipped} of ${r.skipped + r.scored} rows cannot be scored (${why})${o.consequence ? `; ${o.consequence}` : ''}. Fix the data (for missing categories, register the model with --missing-category), or pass --allow-skipped to ${o.allowWhat}`,
      { skipped: r.skipped, reasons: r.skippedReasons },
    );
  }
  return `${r.skipped} ${r.skipped === 1 ? 'row' : 'rows'} skipped (--allow-skipped): ${why}`;
}

/**
 * Read a CSV (streamed) and score every row through the model exactly as serving would: cells
 * typed by the model's contract, validated by its encoder, scored in runs of 512 rows. Rows the
 * contract refuses are skipped and counted; with a target, rows without a label too.
 */
export async function scoreCsv(
  file: string,
  s: Servable,
  /** targetFrom: where the target's name came from, said when the file lacks it (default: --target). */
  opts: { target?: string; targetFrom?: string; onProgress?: (rows: number) => void } = {},
): Promise<ScoredCsv> {
  assertInputFile(file, 'give the path of a CSV file with a header row');
  const features = s.spec.contract.features;
  const delimiter = await fileDelimiter(file);
  const reader = csvPayloadReader(features, s.spec.contract, delimiter !== ',');
  // The profile holds what the monitor will bin: for a trained version, categories as its trainer read them.
  const asMonitored = s.spec.contract.cell_reading === 'train' ? (v: unknown) => (typeof v === 'string' ? cleanCategory(v) : v) : (v: unknown) => v;
  const columns: unknown[][] = features.map(() => []);
  const scores: number[] = [];
  const outcomes: Outcome[] = [];
  const labels: number[] = [];
  const actualValues: number[] = [];
  const actualClasses: string[] = [];
  const target = opts.target === undefined ? undefined : targetReader(s, opts.target, delimiter !== ',');
  let skipped = 0;
  let untargeted = 0;
  let firstError: string | undefined;
  const skippedReasons: Record<string, number> = {};
  const unseen = new UnseenCategories();
  const skip = (why: string) => {
    skipped++;
    countReason(skippedReasons, why);
  };
  let pending: { payload: Record<string, unknown>; label?: number | string }[] = [];
  const flush = async () => {
    const ok: { row: ReturnType<Servable['encoder']['encode']>['row']; payload: Record<string, unknown>; label?: number | string }[] = [];
    for (const p of pending) {
      try {
        const enc = s.encoder.encode(p.payload, 'row');
        for (const i of enc.unseen ?? []) unseen.add(features[i].name, enc.row[i] as string);
        ok.push({ row: enc.row, payload: p.payload, label: p.label });
      } catch (e) {
        firstError ??= errorMessage(e);
        skip(errorMessage(e));
      }
    }
    pending = [];
    if (!ok.length) return;
    const batch = await s.scoreMany(ok.map((o) => o.row));
    ok.forEach((o, i) => {
      features.forEach((f, j) => columns[j].push(asMonitored(o.payload[f.name])));
      scores.push(batch[i].score);
      outcomes.push(batch[i]);
      if (o.label !== undefined) {
        if (s.task === 'regression') actualValues.push(o.label as number);
        else if (s.task === 'multiclass') actualClasses.push(o.label as string);
        else labels.push(o.label as number);
      }
    });
    opts.onProgress?.(scores.length);
  };

  const onHeader = (header: string[]) => {
    assertFeatureColumns(
      file,
      header,
      features.map((f) => f.name),
    );
    if (opts.target !== undefined && !header.includes(opts.target))
      throw new AppError('BAD_REQUEST', `${file}: no column ${opts.target} (${opts.targetFrom ?? 'from --target'})${caseHint(header, [opts.target])}`);
    return [...features.map((f) => f.name), ...(opts.target === undefined ? [] : [opts.target])];
  };
  let line = 1; // the header
  try {
    for await (const r of csvRows(createReadStream(file), { delimiter, source: file, onHeader })) {
      line = r.row + 1;
      if (r.misaligned) {
        firstError ??= r.misaligned;
        skip(r.misaligned);
        continue;
      }
      let y: number | string | undefined;
      if (target && opts.target !== undefined) {
        const t = target(r.values[opts.target], line);
        if ('skip' in t) {
          untargeted++;
          skip(t.skip);
          continue;
        }
        y = t.y;
      }
      pending.push({ payload: reader.read(r.values), label: y });
      if (pending.length >= BATCH) await flush();
    }
    await flush();
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError('BAD_REQUEST', `${file}: cannot read as CSV (after line ${line}): ${errorMessage(e)}`);
  }
  if (!scores.length) throw new AppError('BAD_REQUEST', `${file}: no row could be scored${firstError ? ` (first problem: ${firstError})` : ''}`);
  const unseenNote = unseen.note(features);
  return {
    columns,
    scores,
    outcomes,
    labels,
    actualValues,
    actualClasses,
    skipped,
    skippedReasons,
    untargeted,
    notNumbers: reader.notNumbers,
    notNumberExamples: reader.examples,
    unseen: unseen.summary(),
    ...(unseenNote ? { unseenNote } : {}),
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * A reference profile for an imported model: the CSV scored through the model (scoreCsv), and
 * its features, scores and decisions profiled.
 */
export async function referenceFromCsv(
  file: string,
  s: Servable,
  policy: Policy,
  opts: { target?: string; onProgress?: (rows: number) => void } = {},
): Promise<{
  reference: ReferenceProfile;
  rows: number;
  skipped: number;
  skippedReasons: Record<string, number>;
  untargeted: number;
  notNumbers: Record<string, number>;
  notNumberExamples: Record<string, string>;
  unseenNote?: string;
  firstError?: string;
}> {
  const { columns, scores, outcomes, labels, actualValues, actualClasses, skipped, skippedReasons, untargeted, notNumbers, notNumberExamples, unseenNote, firstError } = await scoreCsv(file, s, opts);
  const features = s.spec.contract.features;
  const decide = s.decide;
  const classes = (s.spec.output.class_labels ?? []).map(String);
  const predicted = outcomes.map((o) => String(o.label));
  let metrics: Record<string, number> | undefined;
  if (opts.target !== undefined && s.task === 'regression') {
    const m = regressionMetrics(scores, actualValues);
    metrics = { mae: m.mae, rmse: m.rmse, r2: m.r2 };
  } else if (opts.target !== undefined && s.task === 'multiclass') {
    const m = multiclassMetrics(
      predicted,
      actualClasses,
      classes,
      outcomes.map((o) => o.probabilities ?? []),
    );
    metrics = { accuracy: m.accuracy, macro_f1: m.macro_f1, log_loss: m.log_loss };
  } else if (opts.target !== undefined && new Set(labels).size === 2) metrics = { roc_auc: rocAuc(scores, labels), brier: brier(scores, labels), log_loss: logLoss(scores, labels) };
  if (metrics) metrics = Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
  const reference = buildReference({
    features: features.map((f, j) => ({ name: f.name, kind: kindOf(f.type), values: columns[j] })),
    scores,
    decisions: outcomes.map(decide),
    policy,
    ...(opts.target !== undefined && s.task === 'binary' ? { labels } : {}),
    ...(metrics ? { metrics } : {}),
    ...(s.task === 'multiclass' ? { classes: { labels: classes, predicted } } : {}),
  });
  // evaluate and policy set --cost read the outcome from this column unless told another.
  if (opts.target !== undefined) reference.target = opts.target;
  return { reference, rows: scores.length, skipped, skippedReasons, untargeted, notNumbers, notNumberExamples, ...(unseenNote ? { unseenNote } : {}), ...(firstError ? { firstError } : {}) };
}
