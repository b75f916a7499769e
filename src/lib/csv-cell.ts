import { isMissingCell } from './missing.js';

/** The tensor types a CSV cell is read as (a contract feature's type). */
export type CellType = 'float' | 'double' | 'int64' | 'int32' | 'string' | 'bool';

/**
 * A CSV cell as the value a JSON payload would carry for a feature of this type: null for the
 * missing-value tokens, numbers for numeric features, the raw text when it does not parse (so
 * the encoder refuses it with the same message an API caller gets).
 */
export function typedCell(raw: string | undefined, type: CellType): unknown {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  if (isMissingCell(t)) return null;
  if (type === 'string') return raw;
  if (type === 'bool') return /^(true|1|yes)$/i.test(t) ? true : /^(false|0|no)$/i.test(t) ? false : raw;
  const n = Number(t);
  if (type === 'int64' || type === 'int32') return Number.isInteger(n) ? n : raw;
  return Number.isFinite(n) ? n : raw;
}
