/** One audited prediction, as queued and as written. */
export interface PredictionRecord {
  id: string;
  at: string;
  model: string;
  version: number;
  arm: string;
  event_id: string | null;
  /** JSON text of the payload (AUDIT_FEATURES=full), else null. */
  features: string | null;
  features_sha256: string | null;
  score: number;
  decision: string;
  latency_ms: number;
  cached: boolean;
  key_id: string | null;
  /** Multiclass: the predicted class as text; else null. */
  label: string | null;
}
