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

export interface RecorderOptions {
  /** AUDIT_PAYLOAD_MAX_BYTES: a payload above it keeps only the version's features. */
  maxPayloadBytes: number;
  /** A payload was trimmed (`kept`: its features fit; otherwise only their hash was kept). */
  onTrimmed?: (model: string, bytes: number, kept: boolean) => void;
}

/** Turns every served prediction into an audit record; the writer takes it off the request path. */
export function createAuditRecorder(writer: AuditWriter, features: AuditFeatures, opts: RecorderOptions): PredictionSink {
  const max = opts.maxPayloadBytes;
  return {
    predicted(p: ScoredPrediction): void {
      let text = features === 'full' ? (p.bodyText !== undefined && p.body && payloadText(p.bodyText, p.body)) || JSON.stringify(p.payload) : null;
      let sha256 = features === 'hashed' ? hashOf(p.row) : null;
      // A UTF-8 byte is at most three UTF-16 units' worth here, so most payloads are never measured.
      if (text !== null && text.length * 3 > max) {
        const bytes = Buffer.byteLength(text);
        if (bytes > max) {
          text = trimmed(p, bytes, max);
          if (text === null) sha256 = hashOf(p.row);
          opts.onTrimmed?.(p.model, bytes, text !== null);
        }
      }
      writer.record({
        id: p.id,
        at: isoTime(Date.now()),
        model: p.model,
        version: p.version,
        arm: p.arm,
        event_id: p.eventId ?? null,
        features: text,
        features_sha256: sha256,
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

const hashOf = (row: ScoredPrediction['row']) => createHash('sha256').update(canonical(row)).digest('hex');

/**
 * What an oversized payload keeps: the version's features as sent (what monitoring and the
 * training-data export read) and `modelgate_trimmed` with the payload's size and how many fields
 * were left out; null when even those are above the limit (a huge category), and the record
 * keeps the features' hash instead, as AUDIT_FEATURES=hashed does.
 */
function trimmed(p: ScoredPrediction, bytes: number, max: number): string | null {
  const payload = p.payload && typeof p.payload === 'object' ? (p.payload as Record<string, unknown>) : {};
  const kept: Record<string, unknown> = {};
  // Counted, not looked up one by one: a payload of 100,000 small fields is as possible as one large one.
  let fields = 0;
  for (const k in payload) if (Object.hasOwn(payload, k)) fields++;
  let features = 0;
  for (const name of p.featureNames) {
    if (!Object.hasOwn(payload, name)) continue;
    kept[name] = payload[name];
    features++;
  }
  kept[TRIMMED_KEY] = { bytes, left_out: fields - features };
  const text = JSON.stringify(kept);
  return Buffer.byteLength(text) > max ? null : text;
}

/** The key an oversized payload's stored features carry, with its size and the fields left out. */
export const TRIMMED_KEY = 'modelgate_trimmed';
