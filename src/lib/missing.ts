/** Cells that mean "no value" in the CSVs people export (pandas, R, SQL clients, UCI files). */
export const MISSING_TOKENS = new Set(['', 'NA', 'N/A', 'NULL', 'null', 'NaN', 'nan', '?', 'None']);

export const isMissingCell = (raw: string | undefined): boolean => raw === undefined || cleanCategory(raw) === null;

/**
 * The cells pandas.read_csv reads as NaN by default (its STR_NA_VALUES), matched as written. A
 * pipeline exported from scikit-learn was most often fitted on a frame read so, and a client
 * sending rows of such a frame sends these as null and every other text, "?" included, as it
 * stands: a CSV's string cell for an imported version is read the same way.
 */
export const PANDAS_NA_TOKENS = new Set(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']);

/**
 * A category as modelgate's trainer reads it: trimmed, or null when it is one of the
 * missing-value tokens (or blank). Serving applies the same to versions whose contract says
 * `cell_reading: "train"`, so " tacoma " and "tacoma" are one category on both sides.
 */
export function cleanCategory(raw: string): string | null {
  const t = raw.trim();
  return MISSING_TOKENS.has(t) ? null : t;
}

const POSITIVE = new Set(['1', 'yes', 'true', 'y', 't']);
const NEGATIVE = new Set(['0', 'no', 'false', 'n', 'f']);

/**
 * 0 and 1 as a float column writes them (pandas gives a label column with a gap 1.0 and 0.0),
 * with a decimal point or, in a European spreadsheet's export (semicolons between fields), a
 * decimal comma: 1,0 and 0,0.
 */
const FLOAT_BIT = /^([01])[.,]0*$/;

/** A binary target cell: 1 or 0, null when missing, undefined when it is not a binary value. */
export function binaryLabel(raw: string | undefined): 0 | 1 | null | undefined {
  if (isMissingCell(raw)) return null;
  const t = raw!.trim().toLowerCase();
  if (POSITIVE.has(t)) return 1;
  if (NEGATIVE.has(t)) return 0;
  const bit = FLOAT_BIT.exec(t)?.[1];
  return bit === '1' ? 1 : bit === '0' ? 0 : undefined;
}
