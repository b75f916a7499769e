import { createHash } from 'node:crypto';
import { stringify } from 'csv-stringify/sync';
import { Yielder } from '../lib/yielder.js';
import type { AuditStore, PredictionQuery, PredictionView } from './store.js';

/**
 * `label` is a multiclass model's predicted class, which the decision may not name (`review`
 * under a minimum probability). `outcome` is the real outcome fed back for the prediction (empty
 * while none is), so an export is the table to evaluate a model on offline.
 */
export const EXPORT_COLUMNS = [
  'id',
  'at',
  'model',
  'version',
  'arm',
  'event_id',
  'score',
  'label',
  'decision',
  'latency_ms',
  'cached',
  'key_id',
  'outcome',
  'outcome_value',
  'outcome_at',
  'features_sha256',
  'features',
] as const;

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

/** Rows per CSV chunk: about 1.5 ms of work, so a server pausing between chunks answers others within its budget. */
const CSV_CHUNK_ROWS = 100;

/**
 * The CSV download a server streams: the header line, then every matching prediction, in
 * chunks. Between chunks the event loop gets a turn once 2 ms of work have passed. On
 * SQLite the driver is synchronous, and a client reading as fast as the server writes never
 * makes it wait for the socket either, so without these turns an export held every other
 * request, health checks included, until its last row (30 s for 1.8 million records).
 */
export async function* predictionsCsv(store: Pick<AuditStore, 'query' | 'exportPageRows'>, filter: Omit<PredictionQuery, 'limit' | 'after'>): AsyncGenerator<string> {
  const turns = new Yielder();
  yield csvRows([], true);
  for await (const rows of predictionPages(store, filter, store.exportPageRows)) {
    for (let i = 0; i < rows.length; i += CSV_CHUNK_ROWS) {
      if (turns.spent()) await turns.pause();
      yield csvRows(rows.slice(i, i + CSV_CHUNK_ROWS), false);
    }
  }
}

/** A training file's columns: the event id, each feature, then the outcome under the target's name. */
export interface TrainingColumns {
  features: string[];
  target: string;
  /** The version's time column (it was trained with `--split time`): each prediction's time goes in it, so a retrain can split by it. */
  time?: string;
  /** A binary target of two other values (the run's `train --positive`): negative, then positive, written for 0 and 1. */
  classLabels?: [string, string];
}

/** A payload value as a CSV cell the trainer reads back as it was sent: empty for null or absent. */
const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/**
 * Labelled predictions as rows of a file train, retrain and evaluate read: event_id, the
 * features as the caller sent them, and the real outcome in the target column. Records whose
 * payload was not kept (AUDIT_FEATURES=hashed or none) or that have no outcome are left out and
 * counted, and so is an event scored again with the same features and outcome (a client's
 * retry, a nightly re-score): kept once, since a row repeated across the split would let
 * retrain's held-out rows be ones it trained on (held-out ROC AUC 0.94 against 0.86 measured).
 * Call once per page, in order: the state carries across pages.
 */
export function trainingCsv(cols: TrainingColumns) {
  const seen = new Set<string>();
  const counts = { written: 0, withoutFeatures: 0, repeats: 0 };
  return {
    counts,
    header: () => stringify([['event_id', ...cols.features, ...(cols.time ? [cols.time] : []), cols.target]]),
    rows(rows: PredictionView[]): string {
      const data: string[][] = [];
      for (const r of rows) {
        if (r.outcome === null) continue;
        if (!r.features) {
          counts.withoutFeatures++;
          continue;
        }
        const outcome = cols.classLabels && (r.outcome === 0 || r.outcome === 1) ? cols.classLabels[r.outcome] : String(r.outcome);
        const line = [r.event_id ?? '', ...cols.features.map((f) => cell(r.features![f])), outcome];
        if (r.event_id !== null) {
          // A digest, not the row: a month of events is held as short keys (22 characters each).
          // Without the time: a re-score of the event is a repeat, kept at its first (earliest) time.
          const key = createHash('sha256').update(JSON.stringify(line)).digest('base64').slice(0, 22);
          if (seen.has(key)) {
            counts.repeats++;
            continue;
          }
          seen.add(key);
        }
        if (cols.time) line.splice(line.length - 1, 0, r.at);
        data.push(line);
      }
      counts.written += data.length;
      return data.length ? stringify(data) : '';
    },
  };
}
