import type { ColumnType, Generated } from 'kysely';

/** Timestamps are written as ISO strings; PostgreSQL hands back Date, SQLite the string. */
export type Timestamp = ColumnType<Date | string, string, string>;
/** JSON is jsonb on PostgreSQL (parsed by the driver) and text on SQLite. */
export type Json = ColumnType<unknown, string, string>;

export interface ModelsTable {
  name: string;
  description: string | null;
  created_at: Timestamp;
}

export interface ModelVersionsTable {
  model: string;
  version: number;
  onnx_sha256: string;
  manifest_sha256: string;
  contract_version: number;
  size_bytes: number;
  status: 'active' | 'archived';
  manifest: Json;
  created_at: Timestamp;
  created_by: string;
}

export interface AliasesTable {
  model: string;
  alias: string;
  version: number;
  updated_at: Timestamp;
  updated_by: string;
}

export interface AliasEventsTable {
  id: Generated<number>;
  model: string;
  alias: string;
  version: number | null;
  previous_version: number | null;
  action: 'set' | 'rollback' | 'activate';
  actor: string;
  at: Timestamp;
}

export interface MetaTable {
  key: string;
  value: number;
}

export interface Database {
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  aliases: AliasesTable;
  alias_events: AliasEventsTable;
  modelgate_meta: MetaTable;
}

export function toIso(v: Date | string): string {
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}

export function fromJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
