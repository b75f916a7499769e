import type { ColumnType, Generated } from 'kysely';

/** Timestamps are written as ISO strings; PostgreSQL hands back Date, SQLite the string. */
export type Timestamp = ColumnType<Date | string, string, string>;
/** JSON is jsonb on PostgreSQL (json for audited features; the driver parses both) and text on SQLite. */
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

export interface EngineChecksTable {
  model: string;
  version: number;
  engine: 'compiled' | 'onnxruntime';
  reason: string | null;
  memory_bytes: ColumnType<number, number, number>;
  checked_at: Timestamp;
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
  rollouts: RolloutsTable;
  rollout_events: RolloutEventsTable;
  rollbacks: RollbacksTable;
  arm_stats: ArmStatsTable;
  leases: LeasesTable;
  api_keys: ApiKeysTable;
  api_key_replaced_tokens: { token_sha256: string; key_id: string; replaced_at: Timestamp };
  predictions: PredictionsTable;
  feedback: FeedbackTable;
  monitoring_reports: MonitoringReportsTable;
  retrain_plans: RetrainPlansTable;
  retrain_runs: RetrainRunsTable;
  engine_checks: EngineChecksTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_outbox: WebhookOutboxTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export function toIso(v: Date | string): string {
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}

/** toIso for a column that may be null. */
export const toIsoOrNull = (v: Date | string | null): string | null => (v === null ? null : toIso(v));

export function fromJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export interface RolloutsTable {
  model: string;
  /** Alias the canary competes for: production, or a slot such as green. */
  target: string;
  production_version: number | null;
  canary_version: number | null;
  canary_percent: number;
  steps: Json;
  step_index: number;
  step_interval_ms: number;
  min_requests: number;
  analysis: Json;
  auto_promote: number;
  shadow_version: number | null;
  shadow_percent: number;
  shadow_started_at: Timestamp | null;
  started_at: Timestamp | null;
  step_started_at: Timestamp | null;
  started_by: string | null;
  updated_at: Timestamp;
  /** Bumped by every change to the canary: the analysis applies a transition only at the revision it judged. */
  canary_revision: Generated<number>;
}

export interface RolloutEventsTable {
  id: Generated<number>;
  model: string;
  event: string;
  production_version: number | null;
  canary_version: number | null;
  percent: number | null;
  actor: string;
  details: Json;
  at: Timestamp;
}

export interface RollbacksTable {
  id: Generated<number>;
  model: string;
  canary_version: number;
  production_version: number | null;
  reason: string;
  trigger_metric: string | null;
  observed: number | null;
  threshold: number | null;
  rolled_back_by: string;
  at: Timestamp;
}

export interface ArmStatsTable {
  id: Generated<number>;
  model: string;
  arm: string;
  version: number;
  replica: string;
  /** Epoch milliseconds at the start of the flush window. */
  bucket_start: number;
  requests: number;
  cache_hits: Generated<number>;
  errors: number;
  latency: Json;
  decisions: Json;
  scores: Json;
  /** Summed scores (values, for regression) of successful requests. */
  score_sum: Generated<number>;
  /** Shadow arm only: compared requests, agreements (decisions; classes for multiclass), summed |score difference| (relative value error for regression). */
  compared: number;
  agreed: number;
  abs_diff: number;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  token_sha256: string;
  /** After a rotation: the old token's hash, accepted until previous_expires_at. */
  previous_sha256: string | null;
  previous_expires_at: Timestamp | null;
  /** The token's first characters, to recognise it in listings. */
  prefix: string;
  scopes: Json;
  /** e.g. 100/s; null: the configured default. */
  rate_limit: string | null;
  expires_at: Timestamp | null;
  created_at: Timestamp;
  created_by: string;
  rotated_at: Timestamp | null;
  rotated_by: string | null;
  revoked_at: Timestamp | null;
  revoked_by: string | null;
  last_used_at: Timestamp | null;
}

export interface PredictionsTable {
  id: string;
  at: Timestamp;
  model: string;
  version: number;
  arm: string;
  event_id: string | null;
  features: Json | null;
  features_sha256: string | null;
  score: number;
  /** Multiclass: the predicted class (as text); null for binary and regression. */
  label: string | null;
  decision: string;
  latency_ms: number;
  cached: number;
  key_id: string | null;
}

export interface FeedbackTable {
  prediction_id: string;
  model: string;
  event_id: string | null;
  /** Binary: the real outcome, 0 or 1; null for other tasks. */
  label: number | null;
  /** Realised profit or cost of the decision, when the caller reports one. */
  value: number | null;
  /** Multiclass: the real class (as text). */
  actual_class: string | null;
  /** Regression: the real value. */
  actual_value: number | null;
  at: Timestamp;
  key_id: string | null;
}

export interface MonitoringReportsTable {
  id: string;
  model: string;
  version: number | null;
  created_at: Timestamp;
  window_from: Timestamp;
  window_to: Timestamp;
  predictions: number;
  alerts_firing: string;
  report: Json;
}

export interface RetrainPlansTable {
  model: string;
  /** Where the new training data is: a file path or s3://bucket/key. */
  data: string;
  canary_steps: Json;
  step_interval: string | null;
  min_interval_ms: number;
  max_metric_drop: number;
  created_at: Timestamp;
  created_by: string;
}

export interface RetrainRunsTable {
  id: string;
  model: string;
  /** manual (modelgate retrain) or monitor (the plan, on retrain_recommended). */
  trigger: string;
  /** running, gated_out, registered, canary_started, failed, interrupted (stopped by shutdown or Ctrl-C). */
  status: string;
  from_version: number | null;
  candidate_version: number | null;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  detail: Json | null;
}

export interface WebhookSubscriptionsTable {
  id: string;
  url: string;
  secret: string;
  /** The secret a rotation replaced: deliveries carry its signature too until previous_secret_until. */
  previous_secret: string | null;
  previous_secret_until: Timestamp | null;
  secret_rotated_at: Timestamp | null;
  secret_rotated_by: string | null;
  events: string;
  enabled: number;
  disabled_reason: string | null;
  created_at: Timestamp;
  created_by: string;
}

export interface WebhookOutboxTable {
  id: string;
  type: string;
  payload: Json;
  created_at: Timestamp;
  fanned_out: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  subscription_id: string;
  status: string;
  attempts: number;
  next_attempt_at: Timestamp;
  last_status: number | null;
  last_error: string | null;
  updated_at: Timestamp;
  /** The attempt count when it was last queued again by hand (retry-dlq, redeliver): the retry schedule starts over there. */
  schedule_from: Generated<number>;
  /** How often it was queued again by hand (retry-dlq, redeliver). */
  requeued: Generated<number>;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  attempt: number;
  at: Timestamp;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  /** The start of the receiver's answer to a failed attempt (at most 1 KiB of it). */
  response: string | null;
}
