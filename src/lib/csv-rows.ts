import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { withoutSepLine, type Delimiter } from './csv-delimiter.js';
import { AppError, errorMessage } from './errors.js';

export interface CsvRow {
  /** 1 for the first row after the header. */
  row: number;
  /** The file's line the row is on, for messages: 2 for the first row (3 after Excel's sep= line), as long as no quoted field holds a line break. */
  line: number;
  /** The row's cells by header name (a null-prototype object: any header name is a plain key). */
  values: Record<string, string>;
  /**
   * Why the row's fields do not line up with the header's, when they do not. Such a row is not
   * read at all: with one field too many (an unquoted `83,807.86`) every cell after it would be
   * read as the next column's, and the row scored on the wrong values without a word.
   */
  misaligned?: string;
}

export interface CsvRowsOptions {
  delimiter: Delimiter;
  /** For messages: the file's name. */
  source: string;
  /** Header names as the caller reads them (default: as written, so a graph input named with a space still matches). */
  name?: (raw: string) => string;
  /**
   * Called with the header before the first row: checks it (throwing to refuse the file) and
   * returns the columns the caller will read, which must each be named once.
   */
  onHeader: (header: string[]) => readonly string[];
  /** Cells trimmed as they are read (csv-parse's `trim`). */
  trim?: boolean;
}

/** Why a row of these cells does not fit a header of `expected` fields, in words that group rows by cause. */
function misalignment(cells: readonly string[], expected: number): string {
  if (cells.length < expected) return `fewer fields than the header's ${expected}: the row is cut short`;
  // Empty extra fields at the end may be a trailing comma, but also a stray comma before an empty
  // last cell: which cells are whose cannot be told, so the row is not read either way.
  return cells.slice(expected).every((c) => c.trim() === '')
    ? `more fields than the header's ${expected}, the extra ones empty: a comma at the end of the row, or a comma in a field that is not quoted`
    : `more fields than the header's ${expected}: a comma in a field that is not quoted, such as a number written 1,234`;
}

/**
 * A CSV's rows as records keyed by its header, streamed. Unlike csv-parse's `columns` option
 * (which drops all but the last of two columns of one name, and spreads a row with a stray
 * comma over the next columns), a column the caller reads must be named once, and a row whose
 * field count differs from the header's comes with the reason instead of its values.
 */
export async function* csvRows(input: Readable, o: CsvRowsOptions): AsyncGenerator<CsvRow> {
  const sepless = withoutSepLine();
  const parser = input.pipe(sepless).pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, delimiter: o.delimiter, trim: o.trim ?? false }));
  sepless.on('error', (e) => parser.destroy(e));
  const name = o.name ?? ((raw: string) => raw);
  let header: string[] | undefined;
  let row = 0;
  const iterator = (parser as AsyncIterable<string[]>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<string[]>;
      try {
        next = await iterator.next();
      } catch (e) {
        // An unclosed quote, say: the rest of the file cannot be told apart into rows. csv-parse's
        // message names the line (rows read before it in the same chunk are dropped with it).
        throw new AppError('BAD_REQUEST', `${o.source}: not readable as CSV: ${errorMessage(e)}`);
      }
      if (next.done) return;
      const cells = next.value;
      if (!header) {
        header = cells.map(name);
        const used = o.onHeader(header);
        const twice = used.find((c) => header!.indexOf(c) !== header!.lastIndexOf(c));
        if (twice !== undefined) throw new AppError('BAD_REQUEST', `${o.source}: the header names column ${JSON.stringify(twice)} twice; remove or rename one of them`);
        continue;
      }
      row++;
      const line = row + (sepless.dropped ? 2 : 1);
      if (cells.length !== header.length) {
        yield { row, line, values: Object.create(null) as Record<string, string>, misaligned: misalignment(cells, header.length) };
        continue;
      }
      const values = Object.create(null) as Record<string, string>;
      for (let j = 0; j < header.length; j++) values[header[j]] = cells[j];
      yield { row, line, values };
    }
  } finally {
    // Stop reading the file when the caller stops early or a row is refused (pipe() would not).
    await iterator.return?.();
    input.destroy();
  }
}
