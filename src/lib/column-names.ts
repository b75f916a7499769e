import { AppError } from './errors.js';

/**
 * A column name differs from the one asked for in case more often than in spelling
 * (customerid for customerID), or carries a space or a line end a client kept from its own CSV
 * header (`Exited\r`): the hint names the columns meant, or is empty.
 */
export function caseHint(header: readonly string[], names: readonly string[]): string {
  const loose = (s: string) => s.trim().toLowerCase();
  const pairs = names.flatMap((n) => {
    const ln = loose(n);
    return header.filter((h) => h !== n && loose(h) === ln).map((h) => ({ h, n }));
  });
  if (!pairs.length) return '';
  const spaced = pairs.some(({ h, n }) => h.trim() !== h || n.trim() !== n);
  // Quoted, so the spaces show.
  return ` (did you mean ${pairs.map((p) => (spaced ? JSON.stringify(p.h) : p.h)).join(', ')}? ${spaced ? 'names must match exactly, with no spaces or line-end characters around them' : 'names are case-sensitive'})`;
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
