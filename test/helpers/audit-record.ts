import type { PredictionRecord } from '../../src/audit/index.js';

/** A plain audit record for the writer's own tests: the given id and time, the rest fixed. */
export const auditRecord = (id: string, at: string): PredictionRecord => ({
  id,
  at,
  model: 'hotel',
  version: 1,
  arm: 'production',
  event_id: null,
  features: '{}',
  features_sha256: null,
  score: 0.5,
  decision: 'act',
  latency_ms: 0.1,
  cached: false,
  key_id: null,
  label: null,
});
