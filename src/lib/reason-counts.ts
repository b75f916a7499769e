/**
 * Rows refused by a CSV read are counted by reason. Reasons name the offending value where that
 * helps ("Bitcoin" is not a category…), so a column of distinct bad values would otherwise grow
 * the counts, the report and the JSON answer without bound: past this many kinds, new reasons
 * are counted together.
 */
export const MAX_REASON_KINDS = 20;
export const OTHER_REASONS = `other reasons (after the first ${MAX_REASON_KINDS} kinds)`;

export function countReason(reasons: Record<string, number>, why: string): void {
  const key = Object.hasOwn(reasons, why) || Object.keys(reasons).length < MAX_REASON_KINDS ? why : OTHER_REASONS;
  reasons[key] = (reasons[key] ?? 0) + 1;
}
