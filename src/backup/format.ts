/**
 * A modelgate backup is an uncompressed tar of:
 *   manifest.json            format, when, from which schema, and every other entry's sha256 and size
 *   tables/<table>.jsonl.gz  one JSON object per row (timestamps as ISO strings, JSON columns as text), gzipped
 *   artifacts/<sha256>       every ONNX graph and version manifest the tables name
 * The tar itself is not compressed: a damaged byte then damages one entry, which the checksums
 * name, rather than the whole stream. Each table is, as the audit log's JSON lines shrink about
 * tenfold (ONNX graphs barely compress, so artifacts are stored as they are).
 * Format v1 (modelgate before 2026-12) held the tables as plain `tables/<table>.jsonl`; restore reads both.
 */
export const BACKUP_FORMAT = 'modelgate.backup/v2';
export const SUPPORTED_BACKUP_FORMATS = ['modelgate.backup/v1', BACKUP_FORMAT];

/** The archive entry that holds a table, in each format. */
export const tableEntry = (table: string, format: string): string => (format === 'modelgate.backup/v1' ? `tables/${table}.jsonl` : `tables/${table}.jsonl.gz`);

/** Progress lines for large tables: one every this many rows. */
export const PROGRESS_ROWS = 100_000;

/** The registry and its settings, parents before children (restore inserts in this order). */
export const REGISTRY_TABLES = [
  'models',
  'model_versions',
  'aliases',
  'alias_events',
  'rollouts',
  'rollout_events',
  'rollbacks',
  'api_keys',
  'api_key_replaced_tokens',
  'webhook_subscriptions',
  'monitoring_reports',
  'retrain_plans',
  'retrain_runs',
] as const;
/** With --include-audit. */
export const AUDIT_TABLES = ['predictions', 'feedback'] as const;
export type BackupTable = (typeof REGISTRY_TABLES)[number] | (typeof AUDIT_TABLES)[number];

/** Tables whose integer `id` the database generates: exported in id order, numbered anew on restore. */
export const SERIAL_TABLES: BackupTable[] = ['alias_events', 'rollout_events', 'rollbacks'];

export interface BackupEntry {
  path: string;
  sha256: string;
  bytes: number;
  /** tables only */
  rows?: number;
}

export interface BackupManifest {
  format: string;
  created_at: string;
  modelgate_version: string;
  /** The last migration applied to the source database. */
  schema: string;
  source: { dialect: string };
  include_audit: boolean;
  tables: string[];
  entries: BackupEntry[];
}

/** A row as stored in the archive: dialect-neutral. */
export function neutralRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v instanceof Date) out[k] = v.toISOString();
    // PostgreSQL hands JSON columns back parsed; SQLite keeps them as text. Store the text.
    else if (v !== null && typeof v === 'object') out[k] = JSON.stringify(v);
    else out[k] = v;
  }
  return out;
}
