import { stringify } from 'csv-stringify/sync';
import type { AuditStore, PredictionQuery, PredictionView } from './store.js';

export const EXPORT_COLUMNS = ['id', 'at', 'model', 'version', 'arm', 'event_id', 'score', 'decision', 'latency_ms', 'cached', 'key_id', 'features_sha256', 'features'] as const;

/** Rows as CSV lines in EXPORT_COLUMNS order (features as one JSON cell), with the header line first when asked. */
export function csvRows(rows: PredictionView[], header: boolean): string {
  const data = rows.map((r) => EXPORT_COLUMNS.map((c) => (c === 'features' ? (r.features ? JSON.stringify(r.features) : '') : c === 'cached' ? String(r.cached) : (r[c] ?? ''))));
  return stringify(header ? [[...EXPORT_COLUMNS], ...data] : data);
}

/** Every audited prediction matching a filter, oldest first, a page at a time (never all in memory). */
export async function* predictionPages(store: Pick<AuditStore, 'query'>, filter: Omit<PredictionQuery, 'limit' | 'after'>, pageRows = 1000): AsyncGenerator<PredictionView[]> {
  let after: { at: string; id: string } | undefined;
  for (;;) {
    const rows = await store.query({ ...filter, limit: pageRows, after });
    if (!rows.length) return;
    yield rows;
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1];
    after = { at: last.at, id: last.id };
  }
}
