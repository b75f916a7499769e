/**
 * A CSV's column names differ from the ones asked for in case more often than in spelling
 * (customerid for customerID): the hint names the columns meant, or is empty.
 */
export function caseHint(header: readonly string[], names: readonly string[]): string {
  const meant = names.flatMap((n) => header.filter((h) => h !== n && h.toLowerCase() === n.toLowerCase()));
  return meant.length ? ` (did you mean ${meant.join(', ')}? names are case-sensitive)` : '';
}
