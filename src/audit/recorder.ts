import { createHash } from 'node:crypto';
import { isoTime } from '../lib/iso-time.js';
import type { PredictionSink, ScoredPrediction } from '../inference/index.js';
import { payloadText } from './payload-text.js';
import type { AuditWriter } from './writer.js';

export type AuditFeatures = 'full' | 'hashed' | 'none';

/** Canonical features: values in contract order, missing as null, 64-bit integers as strings. */
function canonical(row: ScoredPrediction['row']): string {
  return JSON.stringify(row.map((v) => (typeof v === 'bigint' ? v.toString() : typeof v === 'number' && Number.isNaN(v) ? null : v)));
}

/** Turns every served prediction into an audit record; the writer takes it off the request path. */
export function createAuditRecorder(writer: AuditWriter, features: AuditFeatures): PredictionSink {
  return {
    predicted(p: ScoredPrediction): void {
      writer.record({
        id: p.id,
        at: isoTime(Date.now()),
        model: p.model,
        version: p.version,
        arm: p.arm,
        event_id: p.eventId ?? null,
        features: features === 'full' ? (p.bodyText !== undefined && p.body && payloadText(p.bodyText, p.body)) || JSON.stringify(p.payload) : null,
        features_sha256: features === 'hashed' ? createHash('sha256').update(canonical(p.row)).digest('hex') : null,
        score: p.score,
        decision: p.decision,
        latency_ms: Math.round(p.latencyMs * 1000) / 1000,
        cached: p.cached,
        key_id: p.keyId ?? null,
        label: p.label === undefined ? null : String(p.label),
      });
    },
  };
}
