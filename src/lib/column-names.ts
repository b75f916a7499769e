import { AppError } from './errors.js';

/**
 * A CSV's column names differ from the ones asked for in case more often than in spelling
 * (customerid for customerID): the hint names the columns meant, or is empty.
 */
export function caseHint(header: readonly string[], names: readonly string[]): string {
  const meant = names.flatMap((n) => header.filter((h) => h !== n && h.toLowerCase() === n.toLowerCase()));
  return meant.length ? ` (did you mean ${meant.join(', ')}? names are case-sensitive)` : '';
}

/** A scoring CSV must name every model feature in its header: BAD_REQUEST naming the absent ones. */
export function assertFeatureColumns(source: string, header: readonly string[], features: readonly string[]): void {
  const absent = features.filter((f) => !header.includes(f));
  if (absent.length)
    throw new AppError(
      'BAD_REQUEST',
      `${source}: no column for feature${absent.length > 1 ? 's' : ''} ${absent.join(', ')}${caseHint(header, absent)}; the CSV needs a header naming every model feature`,
    );
}
