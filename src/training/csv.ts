import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { getHeapStatistics } from 'node:v8';
import { parse } from 'csv-parse';
import { caseHint } from '../lib/column-names.js';
import { cellNumber } from '../lib/csv-cell.js';
import { delimiterName, fileDelimiter, withoutSepLine, type Delimiter } from '../lib/csv-delimiter.js';
import { assertInputFile } from '../lib/user-paths.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { binaryLabel, cleanCategory, isMissingCell } from '../lib/missing.js';
import { OrderReader, type OrderColumn } from './order-column.js';
import type { Dataset } from './dataset.js';

export type TrainingTask = 'binary' | 'regression' | 'multiclass';

/**
 * How the trainer read its text cells, for the manifest of every version it registers: a
 * missing category is '', and a category is trimmed with the missing-value tokens read as
 * missing (cleanCategory). Serving does the same, so a row sent as it stands in the CSV gets
 * the score the model was trained and evaluated to give.
 */
export const TRAINED_CELL_READING = { missing_category: '', cell_reading: 'train' } as const;

/** Classes a target may have before it needs --task: more than this reads as a regression (numeric) or a mistake. */
export const MAX_AUTO_CLASSES = 50;
/** Classes a multiclass model may have at all (class indexes are 16-bit; trees per round grow with it). */
export const MAX_CLASSES = 255;
/** Share of a regression target's values that may be unusable (not a finite number) before the file is refused. */
export const MAX_BAD_TARGET_SHARE = 0.05;

export interface IngestOptions {
  target: string;
  /** What to learn; default: read from the target column (see detectTask). */
  task?: TrainingTask;
  exclude?: string[];
  /** Force these columns to be categorical / numeric instead of inferring. */
  categorical?: string[];
  numeric?: string[];
  /** Keep these columns even when they look like names or identifiers. */
  include?: string[];
  /**
   * Exactly these columns are the features, kept whatever they hold unless every value is
   * missing, and every other column is left out: retraining keeps the features of the version it
   * retrains (its serving contract), also where the new data holds one value in a column, as
   * drifted data may (a month of one hotel's bookings), or has columns the version never took.
   */
  features?: string[];
  onProgress?: (message: string) => void;
  /** Memory the typed columns may take (bytes); default: half of what V8 may still allocate. */
  maxColumnBytes?: number;
  /** A binary target of any two values: the one that counts as 1 (the score is its probability). */
  positive?: string;
  /** A column of times (or numbers) that orders the rows for a time split: read into `order`, never a feature. */
  orderBy?: string;
}

/**
 * What training from this table will hold in memory: the columns (8 bytes a value; a pointer a
 * categorical value), then a trainer's working copies (binned codes, gradients, scores), about
 * as much again.
 */
export function estimateTrainingBytes(rows: number, numeric: number, categorical: number): number {
  return rows * (numeric + categorical) * 8 * 2 + rows * 64;
}

export type ColumnRole = 'numeric' | 'categorical' | 'excluded' | 'target';

export interface ColumnReport {
  name: string;
  role: ColumnRole;
  missing: number;
  distinct: number;
  /** Why a column was excluded, or a non-numeric value count in a numeric column. */
  note?: string;
}

export interface Ingested {
  data: Dataset;
  task: TrainingTask;
  /** Why this task, in words (printed by train). */
  taskReason: string;
  /** Regression: rows left out because their target is not a finite number (Infinity, text). */
  droppedBadTarget: number;
  columns: ColumnReport[];
  warnings: string[];
  sha256: string;
  /** Rows read, and rows dropped because their label was missing. */
  rowsRead: number;
  droppedNoLabel: number;
  /** With `positive`: the target's two values, negative then positive (the exported model's classes). */
  classLabels?: [string, string];
  /** With `orderBy`: each kept row's time (ms since 1970 for dates and times) or number, and which of the two it is. */
  order?: OrderColumn;
}

/** Share of non-missing values that must parse as numbers for a column to be numeric. */
const NUMERIC_SHARE = 0.95;
/**
 * Distinct values are counted exactly up to this many; beyond it a column keeps its set only
 * while it may still be an identifier (every value so far different, and not a fraction).
 */
const DISTINCT_CAP = 1000;
/**
 * A text column looks like names or identifiers (a surname, an email, a booking reference) when
 * it has more than DISTINCT_CAP distinct values, or when its distinct values are more than
 * this share of its non-missing values (and at least 50). A model would only memorise it, and
 * every request would have to send it.
 */
const NAME_LIKE_SHARE = 0.2;
/** 2015-07-01, 2015-07-01T10:00:00Z, 01/07/2015, 7.1.2015: a calendar date, with a time or not. */
const DATE_LIKE = /^(?:\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?: \d{1,2}:\d{2}(?::\d{2})?)?)$/;
/**
 * A number with a currency sign, a percent sign or a unit around it ("$29.85", "12%", "1 months",
 * "EUR 1,200"): text to a CSV reader, so such a column trains as categories, or is left out as
 * name-like, unless the user is told why.
 */
const WRAPPED_NUMBER = /^(?:[$€£¥₹]|[A-Z]{3}\s)?\s?[+-]?\d[\d,. ]*(?:\s?(?:%|[A-Za-zµ°/]+(?: [A-Za-z]+)?))?$/;

/** Read the CSV once, record by record, with the right errors for files people really have. */
async function* records(file: string, delimiter: Delimiter, onChunk?: (chunk: Buffer | string) => void): AsyncGenerator<{ line: number; cells: string[] }> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  if (onChunk) source.on('data', onChunk);
  const sepless = withoutSepLine();
  const parser = source.pipe(sepless).pipe(parse({ bom: true, skip_empty_lines: true, relax_quotes: false, delimiter }));
  sepless.on('error', (e) => parser.destroy(e));
  let line = 0;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      line++;
      yield { line: line + (sepless.dropped ? 1 : 0), cells };
    }
  } catch (e) {
    const msg = errorMessage(e);
    const offset = sepless.dropped ? 1 : 0;
    const ragged = /Invalid Record Length: expect (\d+), got (\d+) on line (\d+)/.exec(msg);
    if (ragged)
      throw new AppError('BAD_REQUEST', `${file}: line ${Number(ragged[3]) + offset} has ${ragged[2]} fields where the header has ${ragged[1]}; fix the row (a stray comma or an unquoted field)`);
    throw new AppError('BAD_REQUEST', `${file}: not readable as CSV after line ${line + offset}: ${msg}`);
  }
}

interface Stats {
  missing: number;
  present: number;
  numeric: number;
  /** Values that are a date or a date and time (DATE_LIKE), and the first one. */
  dates: number;
  dateExample?: string;
  /** Values that are a number with a sign or unit around it (WRAPPED_NUMBER), and the first one. */
  wrapped: number;
  wrappedExample?: string;
  integer: number;
  distinct: Set<string> | undefined;
  many: boolean;
}

/**
 * What each column becomes: the target, numeric, categorical, or left out (empty, constant,
 * an identifier, name-like) with the reason added to `warnings`.
 */
function classifyColumns(header: string[], stats: Stats[], targetIndex: number, rows: number, o: IngestOptions, warnings: string[]): ColumnReport[] {
  return header.map((name, j) => {
    const s = stats[j];
    const distinct = s.many ? DISTINCT_CAP + 1 : (s.distinct?.size ?? 0);
    const base = { name, missing: s.missing, distinct };
    if (j === targetIndex) return { ...base, role: 'target' as const };
    const present = rows - s.missing;
    const label = name === '' ? `column ${j + 1} (no name in the header)` : name;
    const exclude = (note: string): ColumnReport => {
      warnings.push(`${label}: ${note}`);
      return { ...base, role: 'excluded', note };
    };
    if (name === o.orderBy) return { ...base, role: 'excluded', note: 'orders the rows for the time split; not a feature' };
    if (o.exclude?.includes(name)) return { ...base, role: 'excluded', note: 'excluded by --exclude' };
    if (o.features && !o.features.includes(name)) return { ...base, role: 'excluded', note: 'not a feature of the version retrained' };
    if (present === 0) return exclude('every value is missing; left out');
    // A feature is a request's field, and a request cannot send a field without a name. The usual
    // one is the first: the row numbers pandas writes with to_csv() unless index=False.
    if (name === '') {
      const rowNumbers = j === 0 && s.distinct !== undefined && distinct === rows && s.integer === present;
      return exclude(rowNumbers ? 'row numbers (what pandas writes unless to_csv(index=False)); left out' : 'left out; name it in the header to train on it');
    }
    // JSON bodies that set __proto__ are refused (prototype pollution), so no request could send it.
    if (name === '__proto__') return exclude('a request cannot send a field of this name (JSON bodies setting __proto__ are refused); left out, rename the column to train on it');
    // Past the line above, a column of a features list is one of them.
    const keep = o.features !== undefined;
    if (distinct === 1 && !keep) return exclude('the same value in every row; left out');
    const forced = o.numeric?.includes(name) ? 'numeric' : o.categorical?.includes(name) ? 'categorical' : undefined;
    const numeric = forced ? forced === 'numeric' : s.numeric >= NUMERIC_SHARE * present;
    const kept = keep || forced !== undefined || (o.include?.includes(name) ?? false);
    // Numbers a spreadsheet wrote with their sign or unit, or dates: said as such, not as names or categories.
    const asText =
      numeric || forced !== undefined ? undefined : s.dates >= NUMERIC_SHARE * present ? dateNote(s) : s.wrapped > 0 && s.numeric + s.wrapped >= NUMERIC_SHARE * present ? wrappedNote(s) : undefined;
    // Unique per row and not a measurement: an identifier, which a model would only memorise.
    if (!kept && !asText && s.distinct !== undefined && distinct === rows && rows > 20 && (!numeric || s.integer === present))
      return exclude(`a different value in every row (an identifier?); left out, use --include ${name} to keep it`);
    if (!kept && !numeric && (distinct > DISTINCT_CAP || (distinct >= 50 && distinct > NAME_LIKE_SHARE * present))) {
      if (asText)
        return exclude(`${asText}; as ${distinct > DISTINCT_CAP ? `more than ${DISTINCT_CAP}` : distinct} distinct texts it is left out (as names would be), use --include ${name} to keep it`);
      return exclude(
        `${distinct > DISTINCT_CAP ? `more than ${DISTINCT_CAP}` : distinct} distinct values in ${present} rows: looks like names or identifiers, which a model would memorise and every request would have to send; left out, use --include ${name} to keep it`,
      );
    }
    if (asText) {
      const note = `${asText}; trained as ${distinct} categories`;
      warnings.push(`${label}: ${note}`);
      return { ...base, role: 'categorical', note };
    }
    if (numeric && s.numeric < present) {
      const bad = present - s.numeric;
      const note = bad === 1 ? '1 value that is not a number is treated as missing' : `${bad} values that are not numbers are treated as missing`;
      warnings.push(`${label}: ${note}`);
      return { ...base, role: 'numeric', note };
    }
    return { ...base, role: numeric ? 'numeric' : 'categorical' };
  });
}

/** Why a column of dates trains poorly as it is, and what to do. */
function dateNote(s: Stats): string {
  return `values such as ${JSON.stringify(s.dateExample)} are dates: each a day (or moment) that new rows will not repeat, so a model learns little from them as text; --exclude the column, or give it what matters in the date as columns of their own (month, day of week, days before an event)`;
}

/** Why a column of numbers written with a sign or unit is not read as numbers, and what to do. */
function wrappedNote(s: Stats): string {
  const example = s.wrappedExample!;
  const around = example.replace(/[+-]?\d[\d,. ]*/, ' ').trim();
  return `values such as ${JSON.stringify(example)} are numbers written with ${JSON.stringify(around)} around them, which is text to a CSV reader, so the column is not numeric; write the numbers alone (and send them so) to train on them as numbers`;
}

/** Pass 2: the kept rows' typed columns and target. */
async function readColumns(
  file: string,
  delimiter: Delimiter,
  columns: ColumnReport[],
  targetIndex: number,
  kept: number,
  task: TrainingTask,
  classIndexOf: Map<string, number>,
  isPositive: (raw: string) => boolean,
  orderIndex: number,
) {
  const num = (raw: string) => cellNumber(raw, delimiter !== ',');
  const numeric: Record<string, Float64Array> = {};
  const categorical: Record<string, string[]> = {};
  const label = new Uint8Array(kept);
  const values = task === 'regression' ? new Float64Array(kept) : undefined;
  const classIndex = task === 'multiclass' ? new Uint16Array(kept) : undefined;
  const dict = columns.map(() => new Map<string, string>());
  const order = orderIndex >= 0 ? new OrderReader(columns[orderIndex].name, kept, num) : undefined;
  columns.forEach((c) => {
    if (c.role === 'numeric') numeric[c.name] = new Float64Array(kept);
    if (c.role === 'categorical') categorical[c.name] = new Array<string>(kept);
  });
  let i = 0;
  let first = true;
  for await (const { line, cells } of records(file, delimiter)) {
    if (first) {
      first = false;
      continue;
    }
    if (isMissingCell(cells[targetIndex])) continue;
    if (values) {
      const v = num(cells[targetIndex]);
      if (v === undefined) continue;
      values[i] = v;
    } else if (classIndex) classIndex[i] = classIndexOf.get(cells[targetIndex].trim())!;
    else label[i] = isPositive(cells[targetIndex]) ? 1 : 0;
    order?.add(i, cells[orderIndex], line);
    for (let j = 0; j < columns.length; j++) {
      const c = columns[j];
      if (c.role === 'numeric') numeric[c.name][i] = isMissingCell(cells[j]) ? NaN : (num(cells[j]) ?? NaN);
      else if (c.role === 'categorical') {
        const v = cells[j] === undefined ? '' : (cleanCategory(cells[j]) ?? '');
        // One string instance per distinct value: a column costs a pointer a row.
        let shared = dict[j].get(v);
        if (shared === undefined) dict[j].set(v, (shared = v));
        categorical[c.name][i] = shared;
      }
    }
    i++;
  }
  return { numeric, categorical, label, values, classIndex, order: order?.result(file) };
}

/**
 * A training table from a CSV: streamed twice (once to learn the columns, once to fill typed
 * arrays), so memory holds the columns, never the file. Missing values are blank, NA, N/A,
 * NULL, NaN, None or ?; a column is numeric when at least 95 % of its values parse as numbers;
 * columns that are empty, constant or unique per row (identifiers) are left out with a warning.
 * Rows whose label is missing are dropped (and counted) before anything else, so row indices
 * match other tools that drop them too.
 */
export async function ingestCsv(file: string, o: IngestOptions): Promise<Ingested> {
  assertInputFile(file, 'give the path of a CSV file with a header row');
  const delimiter = await fileDelimiter(file); // refuses a pipe, whose size would read 0
  const size = (await stat(file)).size;
  if (size === 0) throw new AppError('BAD_REQUEST', `${file} is empty; give a CSV with a header row and data rows`);
  const num = (raw: string) => cellNumber(raw, delimiter !== ',');
  // The file's sha256 is taken while pass 1 reads it.
  const hash = createHash('sha256');
  const limit = o.maxColumnBytes ?? Math.floor((getHeapStatistics().heap_size_limit - process.memoryUsage().heapUsed) / 2);
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GB`;
  const tooBig = (rowsDesc: string, cols: number, need: number, hint = '') =>
    new AppError(
      'BAD_REQUEST',
      `${file}: ${rowsDesc} x ${cols} columns need about ${gb(need)} of memory to train on, more than the ${gb(limit)} available${hint}; train on a sample of the rows, leave columns out with --exclude, or give Node more memory (NODE_OPTIONS=--max-old-space-size=MB)`,
    );
  // Bytes of the rows read so far, for an early estimate of the row count of a huge file.
  let sampleBytes = 0;
  const SAMPLE_ROWS = 5000;

  // Pass 1: header, label check, per-column statistics.
  let header: string[] | undefined;
  let stats: Stats[] = [];
  let targetIndex = -1;
  let rows = 0;
  let dropped = 0;
  const badLabels = new Map<string, number>();
  let positives = 0;
  // The target's values, to tell binary, multiclass and regression apart after the pass.
  const targetValues = new Map<string, number>();
  let targetNumeric = 0;
  let targetManyValues = false;
  // With --positive the target's own two values are the classes; else 0/1, yes/no, true/false.
  const positive = o.positive?.trim();
  if (positive !== undefined && o.task !== undefined && o.task !== 'binary')
    throw new AppError('BAD_REQUEST', `--positive names the positive class of a binary target; it does not go with --task ${o.task}`);
  const labelOf = (raw: string | undefined): 0 | 1 | null | undefined => (positive === undefined ? binaryLabel(raw) : isMissingCell(raw) ? null : raw!.trim() === positive ? 1 : 0);
  for await (const { line, cells } of records(file, delimiter, (chunk) => hash.update(chunk))) {
    if (!header) {
      header = cells.map((c) => c.trim());
      // Unnamed columns are left out (classifyColumns), so several of them are no ambiguity.
      const dup = header.find((h, i) => h !== '' && header!.indexOf(h) !== i);
      if (dup !== undefined) throw new AppError('BAD_REQUEST', `${file}: the header names column ${JSON.stringify(dup)} twice`);
      targetIndex = header.indexOf(o.target);
      if (targetIndex < 0) throw new AppError('BAD_REQUEST', `${file}: no column ${JSON.stringify(o.target)} for --target${caseHint(header, [o.target])}; the columns are ${header.join(', ')}`);
      const absent = (o.features ?? []).filter((c) => !header!.includes(c));
      if (absent.length) throw new AppError('BAD_REQUEST', `${file}: no column${absent.length > 1 ? 's' : ''} ${absent.join(', ')}${caseHint(header, absent)}; the columns are ${header.join(', ')}`);
      if (o.orderBy !== undefined && !header.includes(o.orderBy))
        throw new AppError('BAD_REQUEST', `${file}: no column ${JSON.stringify(o.orderBy)} for --time-column${caseHint(header, [o.orderBy])}; the columns are ${header.join(', ')}`);
      if (o.orderBy === o.target) throw new AppError('BAD_REQUEST', `--time-column ${o.orderBy} is the target; name the column that says when each row happened`);
      const unknown = [...(o.exclude ?? []), ...(o.categorical ?? []), ...(o.numeric ?? [])].filter((c) => !header!.includes(c));
      if (unknown.length)
        throw new AppError(
          'BAD_REQUEST',
          `${file}: no column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (from --exclude/--categorical/--numeric)${caseHint(header, unknown)}; the columns are ${header.join(', ')}`,
        );
      stats = header.map(() => ({ missing: 0, present: 0, numeric: 0, dates: 0, wrapped: 0, integer: 0, distinct: new Set<string>(), many: false }));
      continue;
    }
    for (const c of cells) if (c.includes('\uFFFD')) throw new AppError('BAD_REQUEST', `${file}: line ${line} is not valid UTF-8; save the file as UTF-8 and try again`);
    const y = labelOf(cells[targetIndex]);
    if (y === null) {
      dropped++;
      continue;
    }
    if (rows < SAMPLE_ROWS) {
      for (const c of cells) sampleBytes += c.length + 1;
    } else if (rows === SAMPLE_ROWS) {
      // A file far too large is refused now, not after minutes of reading it: its row count
      // estimated from its size (only when clearly over, the exact check comes after this pass).
      const estimated = Math.round(size / (sampleBytes / SAMPLE_ROWS));
      const cols = header.length - 1 - (o.exclude?.length ?? 0);
      const need = estimateTrainingBytes(estimated, cols, 0);
      if (need > 1.5 * limit) throw tooBig(`about ${estimated.toLocaleString('en')} rows (estimated from the file's ${gb(size)})`, cols, need, ' (found after reading the first 5,000 rows)');
    }
    if (y === 1) positives++;
    else if (y === undefined) badLabels.set(cells[targetIndex], (badLabels.get(cells[targetIndex]) ?? 0) + 1);
    const t = cells[targetIndex].trim();
    if (num(t) !== undefined) targetNumeric++;
    if (!targetManyValues) {
      targetValues.set(t, (targetValues.get(t) ?? 0) + 1);
      if (targetValues.size > MAX_CLASSES) targetManyValues = true;
    }
    rows++;
    for (let j = 0; j < cells.length; j++) {
      if (j === targetIndex) continue;
      const s = stats[j];
      const raw = cells[j];
      if (isMissingCell(raw)) {
        s.missing++;
        continue;
      }
      s.present++;
      const n = num(raw);
      if (n !== undefined) {
        s.numeric++;
        if (Number.isInteger(n)) s.integer++;
      } else if (DATE_LIKE.test(raw.trim())) {
        s.dates++;
        s.dateExample ??= raw.trim();
      } else if (WRAPPED_NUMBER.test(raw.trim())) {
        s.wrapped++;
        s.wrappedExample ??= raw.trim();
      }
      if (s.distinct) {
        s.distinct.add(raw.trim());
        if (s.distinct.size > DISTINCT_CAP && (s.distinct.size < s.present || (n !== undefined && !Number.isInteger(n)))) {
          s.distinct = undefined;
          s.many = true;
        }
      }
    }
    if (rows % 100_000 === 0) o.onProgress?.(`  read ${rows.toLocaleString('en')} rows`);
  }
  if (!header) throw new AppError('BAD_REQUEST', `${file} is empty; give a CSV with a header row and data rows`);
  const sha256 = hash.digest('hex');
  if (rows === 0) throw new AppError('BAD_REQUEST', `${file} has a header but no rows${dropped ? ` with a ${o.target} value (${dropped} rows have none)` : ''}`);
  const distinctTargets = targetManyValues ? MAX_CLASSES + 1 : targetValues.size;
  const firstValues = (n: number) =>
    [...targetValues.keys()]
      .slice(0, n)
      .map((v) => JSON.stringify(v))
      .join(', ');
  let classLabels: [string, string] | undefined;
  if (positive !== undefined) {
    if (!targetValues.has(positive)) throw new AppError('BAD_REQUEST', `--positive ${JSON.stringify(positive)}: no row of ${o.target} has that value; its values are ${firstValues(10)}`);
    if (distinctTargets !== 2)
      throw new AppError(
        'BAD_REQUEST',
        `--positive: ${o.target} has ${distinctTargets > MAX_CLASSES ? `more than ${MAX_CLASSES}` : distinctTargets} distinct values (${firstValues(5)}${distinctTargets > 5 ? ', …' : ''}); a binary target has two (missing-value tokens such as NA or ? are dropped rows)`,
      );
    classLabels = [[...targetValues.keys()].find((v) => v !== positive)!, positive];
  }
  const { task, reason: taskReason } =
    positive !== undefined
      ? { task: 'binary' as const, reason: `--positive ${JSON.stringify(positive)}: binary, ${JSON.stringify(positive)} is 1 and ${JSON.stringify(classLabels![0])} is 0` }
      : detectTask(o, { rows, distinct: distinctTargets, numeric: targetNumeric, binaryLike: badLabels.size === 0 });
  if (task === 'binary' && positive === undefined && badLabels.size && distinctTargets === 2) {
    const [a, b] = [...targetValues.keys()];
    throw new AppError(
      'BAD_REQUEST',
      `--target ${o.target}: its two values ${JSON.stringify(a)} and ${JSON.stringify(b)} are not 0/1, yes/no or true/false; say which one the score is the probability of with --positive (for example --positive ${JSON.stringify(b)}), or train a two-class multiclass model with --task multiclass`,
    );
  }
  if (task === 'binary') {
    if (badLabels.size) {
      const found = [...badLabels.keys()].slice(0, 5).map((v) => JSON.stringify(v));
      throw new AppError(
        'BAD_REQUEST',
        `--target ${o.target}: expected 0/1, yes/no or true/false, found ${found.join(', ')}${badLabels.size > 5 ? ` and ${badLabels.size - 5} more` : ''}; pick a binary column or recode it, or train another kind with --task multiclass or --task regression`,
      );
    }
    if (positives === 0 || positives === rows)
      throw new AppError('BAD_REQUEST', `--target ${o.target}: every row has the same label (${positives ? 'positive' : 'negative'}); training needs both classes`);
  }
  // Regression: rows whose target is not a finite number (Infinity, text) are left out and counted.
  const badTarget = task === 'regression' ? rows - targetNumeric : 0;
  if (badTarget > MAX_BAD_TARGET_SHARE * rows) {
    throw new AppError(
      'BAD_REQUEST',
      `--target ${o.target}: ${badTarget} of ${rows} values are not finite numbers (e.g. ${[...targetValues.keys()]
        .filter((v) => num(v) === undefined)
        .slice(0, 3)
        .map((v) => JSON.stringify(v))
        .join(', ')}); a regression target needs numbers; fix or drop those rows (at most ${MAX_BAD_TARGET_SHARE * 100} % may be left out)`,
    );
  }
  const classes = task === 'multiclass' ? [...targetValues].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c]) => c) : [];
  if (task === 'multiclass' && classes.length < 2) throw new AppError('BAD_REQUEST', `--target ${o.target}: every row has the same class; training needs at least two`);
  const classIndexOf = new Map(classes.map((c, i) => [c, i]));

  const warnings: string[] = [];
  const columns = classifyColumns(header, stats, targetIndex, rows, o, warnings);

  const kept = rows - badTarget;
  const numericCount = columns.filter((c) => c.role === 'numeric').length;
  const categoricalCount = columns.filter((c) => c.role === 'categorical').length;
  const need = estimateTrainingBytes(rows, numericCount, categoricalCount);
  if (need > limit) throw tooBig(`${rows.toLocaleString('en')} rows`, numericCount + categoricalCount, need);

  const { numeric, categorical, label, values, classIndex, order } = await readColumns(
    file,
    delimiter,
    columns,
    targetIndex,
    kept,
    task,
    classIndexOf,
    (raw) => labelOf(raw) === 1,
    o.orderBy === undefined ? -1 : header.indexOf(o.orderBy),
  );
  if (badTarget) warnings.push(`${o.target}: ${badTarget === 1 ? '1 row whose value is not a finite number was' : `${badTarget} rows whose value is not a finite number were`} left out`);
  o.onProgress?.(
    `  ${kept.toLocaleString('en')} rows: ${Object.keys(numeric).length} numeric, ${Object.keys(categorical).length} categorical columns${delimiter === ',' ? '' : ` (fields separated by ${delimiterName(delimiter)})`}${dropped ? `; ${dropped} row${dropped === 1 ? '' : 's'} without a label dropped` : ''}${badTarget ? `; ${badTarget} row${badTarget === 1 ? '' : 's'} with a target that is not a finite number dropped` : ''}`,
  );
  const data: Dataset = {
    numeric,
    categorical,
    label,
    rows: kept,
    task,
    ...(values ? { target: values } : {}),
    ...(classIndex ? { classIndex, classes } : {}),
  };
  return {
    data,
    task,
    taskReason,
    columns,
    warnings,
    sha256,
    rowsRead: rows + dropped,
    droppedNoLabel: dropped,
    droppedBadTarget: badTarget,
    ...(classLabels ? { classLabels } : {}),
    ...(order ? { order } : {}),
  };
}

/**
 * What the target asks for: 0/1-like values (two of them) are binary; 3 to 50 distinct values
 * are classes; a numeric column with more is a regression. --task overrides, within reason.
 */
function detectTask(o: IngestOptions, t: { rows: number; distinct: number; numeric: number; binaryLike: boolean }): { task: TrainingTask; reason: string } {
  const numericShare = t.rows ? t.numeric / t.rows : 0;
  const many = t.distinct > MAX_CLASSES ? `more than ${MAX_CLASSES}` : String(t.distinct);
  if (o.task === 'multiclass') {
    if (t.distinct > MAX_CLASSES)
      throw new AppError(
        'BAD_REQUEST',
        `--target ${o.target}: ${many} distinct values; a multiclass model takes at most ${MAX_CLASSES} classes${numericShare >= 0.95 ? ' (a numeric target with that many values is a regression: --task regression)' : ''}`,
      );
    return { task: 'multiclass', reason: `--task multiclass: ${t.distinct} classes` };
  }
  if (o.task === 'regression') return { task: 'regression', reason: '--task regression' };
  if (o.task === 'binary') return { task: 'binary', reason: '--task binary' };
  if (t.binaryLike && t.distinct <= 2) return { task: 'binary', reason: `${o.target} holds 0/1-like values: binary` };
  if (t.distinct >= 3 && t.distinct <= MAX_AUTO_CLASSES)
    // The regression hint only where the values are numbers (a 1–5 rating); "France" is not one.
    return {
      task: 'multiclass',
      reason: `${o.target} has ${t.distinct} distinct values: multiclass${numericShare >= 1 - MAX_BAD_TARGET_SHARE ? ' (--task regression to predict it as a number)' : ''}`,
    };
  if (t.distinct > MAX_AUTO_CLASSES && numericShare >= 1 - MAX_BAD_TARGET_SHARE) return { task: 'regression', reason: `${o.target} is numeric with ${many} distinct values: regression` };
  if (t.distinct > MAX_AUTO_CLASSES) {
    throw new AppError(
      'BAD_REQUEST',
      `--target ${o.target}: ${many} distinct values that are not numbers; a multiclass model needs --task multiclass beyond ${MAX_AUTO_CLASSES} classes (at most ${MAX_CLASSES}), or pick another target`,
    );
  }
  return { task: 'binary', reason: `${o.target} has two values: binary` };
}
