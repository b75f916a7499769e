/**
 * JSON with every object's keys sorted: the same bytes for the same value however its keys
 * were ordered (a manifest's sha256; PostgreSQL's jsonb gives keys back in its own order).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}
