import type { FastifyInstance } from 'fastify';
import { AppError, errorMessage } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import { checkPhase } from '../lib/check-phase.js';
import { predictionId as newPredictionId } from '../lib/ids.js';
import type { ModelPool } from './pool.js';
import type { Row } from './encoder.js';
import type { Servable } from './servable.js';
import type { PredictionCache } from './cache.js';
import type { Outcome } from './outcome.js';
import type { ClassLabel } from './contract.js';
import { oipRoutes, type OipRouteDeps } from './oip-routes.js';

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
  row: Row;
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

export interface InferenceRouteDeps {
  /** Audit log; absent: predictions are not recorded. */
  sink?: PredictionSink;
  pool: ModelPool;
  /** Prediction cache; absent or disabled: every row is scored. */
  cache?: PredictionCache;
  metrics: InferenceMetrics;
  maxInstances: number;
  observer?: ArmObserver;
  /** Serve the Open Inference Protocol v2 under /v2 too (see oip-routes.ts). */
  oip?: Omit<OipRouteDeps, 'pool' | 'scoreBatch' | 'maxInstances'>;
}

interface Recorder {
  observe(seconds: number): void;
  count(decision: string, n?: number): void;
}

/** Metric children per loaded version and arm, so the hot path does no label hashing. */
function recorders(metrics: InferenceMetrics): (s: Servable, arm: string) => Recorder {
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

const errors = errorReplies(400, 401, 403, 404, 413, 415, 429, 500, 503);

const warningsSchema = { type: 'array', items: { type: 'string' }, description: 'Payload fields the model does not use; they were ignored' } as const;

const inferBody = {
  type: 'object',
  required: ['payload'],
  properties: {
    event_id: { type: 'string', maxLength: 256, description: 'Caller id for this event; echoed back' },
    model: { type: 'string', maxLength: 64, description: 'Model name' },
    product: { type: 'string', maxLength: 64, description: 'Older name for model' },
    version: { type: 'integer', minimum: 1, description: 'Pin a version: bypasses canary routing' },
    alias: { type: 'string', maxLength: 32, description: 'Pin an alias (production, blue, green…): bypasses canary routing' },
    routing_key: { type: 'string', maxLength: 256, description: 'Entity key for sticky canary routing (default: event_id)' },
    payload: { type: 'object', additionalProperties: true, description: 'Feature name → value; null or missing numeric = missing' },
  },
} as const;

/** The prediction fields, per task: binary has score; multiclass adds label and probabilities; regression adds value. */
const outcomeProperties = {
  score: { type: 'number', description: 'binary: positive-class probability; multiclass: probability of label; regression: the value (kept for older clients)' },
  label: { anyOf: [{ type: 'string' }, { type: 'integer' }], description: 'multiclass: the most probable class' },
  probabilities: { type: 'object', additionalProperties: { type: 'number' }, description: 'multiclass: class → probability' },
  value: { type: 'number', description: 'regression: the predicted value' },
  decision: { type: 'string', description: "the version's policy applied to the prediction" },
} as const;

const inferReply = {
  type: 'object',
  properties: {
    prediction_id: { type: 'string' },
    event_id: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'integer' },
    alias: { type: 'string' },
    arm: { type: 'string', enum: ['production', 'canary', 'pinned'] },
    ...outcomeProperties,
    cached: { type: 'boolean', description: 'true when the score came from the prediction cache (same version, same feature values)' },
    warnings: warningsSchema,
  },
  required: ['prediction_id', 'model', 'version', 'arm', 'score', 'decision', 'cached'],
} as const;

interface InferBody {
  event_id?: string;
  model?: string;
  product?: string;
  version?: number;
  alias?: string;
  routing_key?: string;
  payload: unknown;
}

/** A run that failed inside onnxruntime: a 500 that says which version and arm, not a bare crash. */
function inferenceFailed(e: unknown, model: string, version: number, arm: string): AppError {
  if (e instanceof AppError) return e;
  return new AppError('INFERENCE_FAILED', `model ${model} version ${version} failed to score this request (${arm} arm): ${errorMessage(e).split('\n')[0].slice(0, 300)}`, { model, version, arm });
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
  keyId?: string;
}

export interface BatchRow {
  id: string;
  outcome: Outcome;
  decision: string;
  cached: boolean;
}

export type ScoreBatch = (input: BatchInput) => Promise<BatchRow[]>;

function batchScorer(deps: InferenceRouteDeps, recorderOf: (s: Servable, arm: string) => Recorder): ScoreBatch {
  const { observer, cache, sink } = deps;
  return async ({ servable, arm, rows, payloads, eventId, keyId }) => {
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
        eventId,
        payload: payloads[i],
        row: rows[i],
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

const warningsOf = (unknown: string[] | undefined, where: string) => unknown?.map((f) => `${where}.${f}: unknown field, ignored`);

export async function inferenceRoutes(app: FastifyInstance, deps: InferenceRouteDeps): Promise<void> {
  const { pool, observer, cache, sink } = deps;
  const recorderOf = recorders(deps.metrics);
  const scoreBatch = batchScorer(deps, recorderOf);

  app.post<{ Body: InferBody }>(
    '/v1/infer',
    {
      config: { scope: 'infer' },
      schema: { tags: ['inference'], summary: 'Score one row with a model', body: inferBody, response: { 200: inferReply, ...errors } },
    },
    async (request) => {
      const body = request.body;
      const model = body.model ?? body.product;
      if (!model) throw new AppError('VALIDATION_FAILED', 'body.model: is required (the model name; older clients send product)', { field: 'body.model' });
      if (body.version !== undefined && body.alias !== undefined) throw new AppError('VALIDATION_FAILED', 'body: give version or alias, not both', { field: 'body.alias' });
      const { servable, alias, arm, shadow } = await pool.resolve(model, { version: body.version, alias: body.alias, routingKey: body.routing_key ?? body.event_id });
      const { row, unknown } = servable.encoder.encode(body.payload, 'payload');
      const started = process.hrtime.bigint();
      // The key is built once: a miss stores under the same key it looked up.
      const key = cache?.keyOf(servable, row);
      let outcome = cache?.get(servable, key);
      const cached = outcome !== undefined;
      if (outcome === undefined) {
        try {
          outcome = await servable.scoreOne(row);
        } catch (e) {
          if (arm !== 'pinned') observer?.failed(model, arm, servable.spec.version, Number(process.hrtime.bigint() - started) / 1e6);
          throw inferenceFailed(e, model, servable.spec.version, arm);
        }
        cache?.set(key, outcome);
      } else {
        await checkPhase();
      }
      const elapsed = Number(process.hrtime.bigint() - started);
      const rec = recorderOf(servable, arm);
      rec.observe(elapsed / 1e9);
      const decision = servable.decide(outcome);
      rec.count(decision);
      if (arm !== 'pinned' && observer) {
        observer.scored(model, arm, servable.spec.version, elapsed / 1e6, outcome, decision, cached);
        if (shadow) observer.shadow(model, shadow, row, outcome, decision, { eventId: body.event_id, payload: body.payload, keyId: request.principal?.id });
      }
      const predictionId = newPredictionId();
      sink?.predicted({
        id: predictionId,
        model,
        version: servable.spec.version,
        arm,
        eventId: body.event_id,
        payload: body.payload,
        row,
        score: outcome.score,
        label: outcome.label,
        decision,
        latencyMs: elapsed / 1e6,
        cached,
        keyId: request.principal?.id,
      });
      return {
        prediction_id: predictionId,
        ...(body.event_id !== undefined ? { event_id: body.event_id } : {}),
        model,
        version: servable.spec.version,
        ...(alias ? { alias } : {}),
        arm,
        ...servable.present(outcome, decision),
        cached,
        ...(unknown ? { warnings: warningsOf(unknown, 'payload') } : {}),
      };
    },
  );

  app.post<{ Params: { name: string }; Body: { instances: unknown[]; version?: number; routing_key?: string } }>(
    '/v1/models/:name/predict',
    {
      config: { scope: 'infer' },
      schema: {
        tags: ['inference'],
        summary: 'Score many rows in one call',
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        body: {
          type: 'object',
          required: ['instances'],
          properties: {
            instances: { type: 'array', minItems: 1, maxItems: deps.maxInstances, items: {} },
            version: { type: 'integer', minimum: 1 },
            routing_key: { type: 'string', maxLength: 256, description: 'Entity key for sticky canary routing of the whole batch' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              version: { type: 'integer' },
              alias: { type: 'string' },
              arm: { type: 'string' },
              predictions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { prediction_id: { type: 'string' }, ...outcomeProperties, cached: { type: 'boolean' }, warnings: warningsSchema },
                  required: ['prediction_id', 'score', 'decision', 'cached'],
                },
              },
            },
            required: ['model', 'version', 'predictions'],
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const model = request.params.name;
      const { servable, alias, arm } = await pool.resolve(model, { version: request.body.version, routingKey: request.body.routing_key });
      const instances = request.body.instances;
      const rows: Row[] = new Array(instances.length);
      const unknowns: (string[] | undefined)[] = new Array(instances.length);
      for (let i = 0; i < instances.length; i++) {
        const enc = servable.encoder.encode(instances[i], `instances[${i}]`);
        rows[i] = enc.row;
        unknowns[i] = enc.unknown;
      }
      const scored = await scoreBatch({ servable, arm, rows, payloads: instances, keyId: request.principal?.id });
      const predictions = scored.map((p, i) => ({
        prediction_id: p.id,
        ...servable.present(p.outcome, p.decision),
        cached: p.cached,
        ...(unknowns[i] ? { warnings: warningsOf(unknowns[i], `instances[${i}]`) } : {}),
      }));
      return { model, version: servable.spec.version, ...(alias ? { alias } : {}), arm, predictions };
    },
  );

  if (deps.oip) await app.register(oipRoutes, { ...deps.oip, pool, scoreBatch, maxInstances: deps.maxInstances });
}
