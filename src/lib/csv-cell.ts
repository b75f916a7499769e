import { isMissingCell, PANDAS_NA_TOKENS } from './missing.js';
import { quoted } from './quoted.js';

/** The tensor types a CSV cell is read as (a contract feature's type). */
export type CellType = 'float' | 'double' | 'int64' | 'int32' | 'string' | 'bool';

/** 105,29 or -0,5, also with thousands points (1.234,56): a number written with a decimal comma. */
const DECIMAL_COMMA = /^[+-]?(?:\d*|\d{1,3}(?:\.\d{3})+),\d+(?:[eE][+-]?\d+)?$/;
/** 1.234.567: thousands points in a whole number, which more than one group makes unambiguous. */
const THOUSANDS_POINTS = /^[+-]?\d{1,3}(?:\.\d{3}){2,}$/;
/** 1,889.50 or 12,345: thousands commas, as a spreadsheet formats a number in English. */
const THOUSANDS_COMMAS = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;
/** 1,889.50: thousands commas and a decimal point, which no decimal-comma file writes. */
const THOUSANDS_COMMAS_AND_POINT = /^[+-]?\d{1,3}(?:,\d{3})+\.\d+$/;

/**
 * A cell's text as a number's text. In a file not separated by commas, spreadsheets that save
 * "CSV" with semicolons write 105,29 for 105.29, and 1.234,56 or 1.234.567 for a cell formatted
 * with thousands separators; a lone group such as 1.234 stays 1.234: it may be a decimal point
 * (such files are also written by programs that use points). In a comma-separated file a comma
 * inside a number (a quoted "1,889.50" or "12,345") can only be a thousands separator; in the
 * others only when a decimal point follows (1,889.50).
 */
export function numberText(t: string, decimalComma: boolean): string {
  if (!decimalComma) return THOUSANDS_COMMAS.test(t) ? t.replaceAll(',', '') : t;
  if (DECIMAL_COMMA.test(t)) return t.replaceAll('.', '').replace(',', '.');
  if (THOUSANDS_POINTS.test(t)) return t.replaceAll('.', '');
  return THOUSANDS_COMMAS_AND_POINT.test(t) ? t.replaceAll(',', '') : t;
}

/** A CSV cell as a finite number, or undefined (blank, text, Infinity). */
export function cellNumber(raw: string, decimalComma = false): number | undefined {
  const t = raw.trim();
  if (t === '') return undefined;
  const n = Number(numberText(t, decimalComma));
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A CSV cell as the value a JSON payload would carry for a feature of this type: null for the
 * missing-value tokens, numbers for numeric features, the raw text when it does not parse (so
 * the encoder refuses it with the same message an API caller gets). A string feature of a
 * version modelgate did not train (`asTrained` false) is read as pandas.read_csv reads it: null
 * only for pandas' own missing-value cells, so a "?" category such a pipeline learned stays "?".
 */
export function typedCell(raw: string | undefined, type: CellType, decimalComma = false, asTrained = true): unknown {
  if (raw === undefined) return undefined;
  if (type === 'string' && !asTrained) return PANDAS_NA_TOKENS.has(raw) ? null : raw;
  const t = raw.trim();
  if (isMissingCell(t)) return null;
  if (type === 'string') return raw;
  if (type === 'bool') return /^(true|1|yes)$/i.test(t) ? true : /^(false|0|no)$/i.test(t) ? false : raw;
  const n = Number(numberText(t, decimalComma));
  if (type === 'int64' || type === 'int32') return Number.isInteger(n) ? n : raw;
  return Number.isFinite(n) ? n : raw;
}

/**
 * Reads CSV records into payloads for a version's features. For a version trained by modelgate
 * (`cell_reading: "train"`) a numeric cell that is not a number ("120k") is missing, as the
 * trainer read it, and counted per column in `notNumbers`; for any other version it stays text,
 * which the encoder refuses. An imported version's string cells are read as pandas reads them
 * (typedCell); a version modelgate trained before `cell_reading` was recorded is known by its
 * missing category, `""`, and keeps the trainer's reading of them.
 */
export function csvPayloadReader(features: readonly { name: string; type: CellType }[], contract: { cell_reading?: 'train'; missing_category?: string }, decimalComma: boolean) {
  const notNumbers: Record<string, number> = {};
  /** The first such value of each column, for the note. */
  const examples: Record<string, string> = {};
  const lenient = contract.cell_reading === 'train';
  const trainerStrings = lenient || contract.missing_category === '';
  return {
    notNumbers,
    examples,
    read(rec: Record<string, string | undefined>): Record<string, unknown> {
      const payload: Record<string, unknown> = {};
      for (const f of features) {
        let v = typedCell(rec[f.name], f.type, decimalComma, trainerStrings);
        if (lenient && typeof v === 'string' && f.type !== 'string' && f.type !== 'bool') {
          notNumbers[f.name] = (notNumbers[f.name] ?? 0) + 1;
          examples[f.name] ??= v.trim();
          v = null;
        }
        payload[f.name] = v;
      }
      return payload;
    },
  };
}

/**
 * The line for values read as missing by csvPayloadReader ("note: …", or "warning: …" when such
 * values are more than half a column's rows: then its numbers are most likely written with a sign
 * or unit, and most rows were scored without the column), or undefined when there were none.
 */
export function notNumbersNote(notNumbers: Record<string, number>, examples: Record<string, string> = {}, rows?: number): string | undefined {
  const entries = Object.entries(notNumbers);
  if (!entries.length) return undefined;
  const parts = entries.map(([name, n]) => `${n.toLocaleString('en-US')} in ${name}${examples[name] !== undefined ? ` (such as ${quoted(examples[name])})` : ''}`);
  const mostly = rows === undefined ? [] : entries.filter(([, n]) => n * 2 > rows).map(([name]) => name);
  const what = `values that are not numbers read as missing, as train read them: ${parts.join(', ')}`;
  return mostly.length ? `warning: ${what}; most values of ${mostly.join(', ')} are so, each read as unknown: write the numbers alone (no currency sign or unit) in the file` : `note: ${what}`;
}
