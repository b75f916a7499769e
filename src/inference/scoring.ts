import { AppError, errorMessage } from '../lib/errors.js';
import { predictionId as newPredictionId } from '../lib/ids.js';
import type { Row } from './encoder.js';
import type { Servable } from './servable.js';
import type { PredictionCache } from './cache.js';
import type { Outcome } from './outcome.js';
import type { ClassLabel } from './contract.js';

// What every served prediction goes through, whichever route served it: metrics, the rollout's
// arm statistics and the audit log. The /v1 routes and the OIP routes share it.

export interface InferenceMetrics {
  predictions: { labels(labels: { model: string; version: string; decision: string; arm: string; engine: string }): { inc(n?: number): void } };
  inferenceDuration: { labels(labels: { model: string; version: string; arm: string; engine: string }): { observe(seconds: number): void } };
}

/** Told about every routed (unpinned) prediction, so rollouts can compare arms. */
export interface ArmObserver {
  /** `cached`: the score came from the prediction cache, so latency says nothing of the model. */
  scored(model: string, arm: 'production' | 'canary', version: number, latencyMs: number, outcome: Outcome, decision: string, cached: boolean): void;
  failed(model: string, arm: 'production' | 'canary', version: number, latencyMs: number): void;
  /** A copy of the request for the shadow version, handled off the request path. */
  shadow(model: string, shadow: Servable, row: Row, outcome: Outcome, decision: string, request?: ShadowRequest): void;
}

/** What the audit log needs of the request a shadow copy came from. */
export interface ShadowRequest {
  /** The production prediction it copies (its audit record's id names it, so its outcome is the shadow's too). */
  predictionId: string;
  eventId?: string;
  payload: unknown;
  keyId?: string;
}

/** One served prediction, for the audit log. */
export interface ScoredPrediction {
  id: string;
  model: string;
  version: number;
  arm: string;
  eventId?: string;
  payload: unknown;
  /**
   * POST /v1/infer: the parsed request body (whose `payload` member is `payload`) and its JSON
   * text, from which the audit log cuts the features' text instead of stringifying them again.
   */
  body?: object;
  bodyText?: string;
  row: Row;
  /** The version's feature names (Servable.featureNames). */
  featureNames: readonly string[];
  /** Binary: positive-class probability; multiclass: the label's probability; regression: the value. */
  score: number;
  /** Multiclass: the predicted class. */
  label?: ClassLabel;
  decision: string;
  latencyMs: number;
  cached: boolean;
  keyId?: string;
}

/** Told about every prediction served (the audit log); must return at once. */
export interface PredictionSink {
  predicted(p: ScoredPrediction): void;
}

interface Recorder {
  observe(seconds: number): void;
  count(decision: string, n?: number): void;
}

/** Metric children per loaded version and arm, so the hot path does no label hashing. */
export function recorders(metrics: InferenceMetrics): (s: Servable, arm: string) => Recorder {
  const cache = new WeakMap<Servable, Map<string, Recorder>>();
  return (s, arm) => {
    let byArm = cache.get(s);
    if (!byArm) {
      byArm = new Map();
      cache.set(s, byArm);
    }
    let r = byArm.get(arm);
    if (!r) {
      const labels = { model: s.spec.model, version: s.versionLabel, arm, engine: s.engineName };
      const duration = metrics.inferenceDuration.labels(labels);
      const decisions = new Map<string, { inc(n?: number): void }>();
      r = {
        observe: (sec) => duration.observe(sec),
        count: (decision, n = 1) => {
          let c = decisions.get(decision);
          if (!c) {
            c = metrics.predictions.labels({ ...labels, decision });
            decisions.set(decision, c);
          }
          c.inc(n);
        },
      };
      byArm.set(arm, r);
    }
    return r;
  };
}

/** A run that failed inside onnxruntime: a 500 that says which version and arm, not a bare crash. */
export function inferenceFailed(e: unknown, model: string, version: number, arm: string): AppError {
  if (e instanceof AppError) return e;
  return new AppError('INFERENCE_FAILED', `model ${model} version ${version} failed to score this request (${arm} arm): ${errorMessage(e).split('\n')[0].slice(0, 300)}`, { model, version, arm });
}

/**
 * A score the response can carry: a model fed values far outside anything it was trained on
 * (±1e37, say) can compute NaN or ±Infinity, which is the input's doing, so the caller gets a
 * 400 naming the row rather than a 500 from the reply serializer.
 */
export function requireFinite(outcome: Outcome, where: string, servable: Servable): void {
  const bad = !Number.isFinite(outcome.score) || outcome.probabilities?.some((p) => !Number.isFinite(p));
  if (bad) {
    throw new AppError(
      'VALIDATION_FAILED',
      `${where}: model ${servable.spec.model} version ${servable.spec.version} scored this row as ${outcome.score} (not a finite number); its values are far outside what the model was trained on — check them`,
      { field: where },
    );
  }
}

/** Many validated rows of one request, scored as one: the cache first, the rest in one run; metrics, arm statistics and the audit log as for single rows. */
export interface BatchInput {
  servable: Servable;
  arm: 'production' | 'canary' | 'pinned';
  rows: Row[];
  /** Each row's payload as received, for the audit log. */
  payloads: unknown[];
  /** One event id for every row (the OIP request id). */
  eventId?: string;
  /** Each row's own event id, in order (batch predict's event_ids); before eventId. */
  eventIds?: readonly string[];
  keyId?: string;
}

export interface BatchRow {
  id: string;
  outcome: Outcome;
  decision: string;
  cached: boolean;
}

export type ScoreBatch = (input: BatchInput) => Promise<BatchRow[]>;

export function batchScorer(deps: { observer?: ArmObserver; cache?: PredictionCache; sink?: PredictionSink }, recorderOf: (s: Servable, arm: string) => Recorder): ScoreBatch {
  const { observer, cache, sink } = deps;
  return async ({ servable, arm, rows, payloads, eventId, eventIds, keyId }) => {
    const model = servable.spec.model;
    const started = process.hrtime.bigint();
    const outcomes: Outcome[] = new Array(rows.length);
    const fromCache: boolean[] = new Array(rows.length).fill(false);
    const missing: number[] = [];
    const keys = rows.map((r) => cache?.keyOf(servable, r));
    for (let i = 0; i < rows.length; i++) {
      const hit = cache?.get(servable, keys[i]);
      if (hit === undefined) missing.push(i);
      else {
        outcomes[i] = hit;
        fromCache[i] = true;
      }
    }
    try {
      if (missing.length) {
        const fresh = await servable.scoreMany(missing.map((i) => rows[i]));
        missing.forEach((i, j) => {
          outcomes[i] = fresh[j];
          cache?.set(keys[i], fresh[j]);
        });
      }
    } catch (e) {
      if (arm !== 'pinned') observer?.failed(model, arm, servable.spec.version, Number(process.hrtime.bigint() - started) / 1e6);
      throw inferenceFailed(e, model, servable.spec.version, arm);
    }
    for (let i = 0; i < outcomes.length; i++) requireFinite(outcomes[i], `instances[${i}]`, servable);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const rec = recorderOf(servable, arm);
    rec.observe(elapsedMs / 1e3);
    const counts = new Map<string, number>();
    const out = outcomes.map((outcome, i) => {
      const decision = servable.decide(outcome);
      counts.set(decision, (counts.get(decision) ?? 0) + 1);
      if (arm !== 'pinned') observer?.scored(model, arm, servable.spec.version, elapsedMs, outcome, decision, fromCache[i]);
      const id = newPredictionId();
      sink?.predicted({
        id,
        model,
        version: servable.spec.version,
        arm,
        eventId: eventIds?.[i] ?? eventId,
        payload: payloads[i],
        row: rows[i],
        featureNames: servable.featureNames,
        score: outcome.score,
        label: outcome.label,
        decision,
        latencyMs: elapsedMs,
        cached: fromCache[i],
        keyId,
      });
      return { id, outcome, decision, cached: fromCache[i] };
    });
    for (const [decision, n] of counts) rec.count(decision, n);
    return out;
  };
}
