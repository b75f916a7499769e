import type { FastifyInstance } from 'fastify';
import type { SchemaTypes } from '../lib/route-types.js';
import { AppError } from '../lib/errors.js';
import { caseHint } from '../lib/column-names.js';
import { quoted } from '../lib/quoted.js';
import type { Servable } from './servable.js';
import type { RunTiming } from './batcher.js';
import { errorReplies } from '../lib/schemas.js';
import { checkPhase } from '../lib/check-phase.js';
import { predictionId as newPredictionId } from '../lib/ids.js';
import type { ModelPool } from './pool.js';
import type { EncodedRow, Row } from './encoder.js';
import { unseenCategoryWarning } from './unseen-category.js';
import { FEEDBACK_ADVICE, leftOutReason } from './training-columns.js';
import type { PredictionCache } from './cache.js';
import { oipRoutes, type OipRouteDeps } from './oip-routes.js';
import { batchScorer, inferenceFailed, recorders, requireFinite, type ArmObserver, type InferenceMetrics, type PredictionSink } from './scoring.js';

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

const errors = errorReplies(400, 401, 403, 404, 413, 415, 429, 500, 503);

const warningsSchema = {
  type: 'array',
  items: { type: 'string' },
  description: 'Payload fields the model does not use (ignored), and categories the version does not know (scored as unseen)',
} as const;

/** The largest version number a path takes (nine digits); a body's pin is held to the same. */
const MAX_VERSION = 999_999_999;

const inferBody = {
  type: 'object',
  required: ['payload'],
  properties: {
    event_id: { type: 'string', minLength: 1, maxLength: 256, description: 'Caller id for this event; echoed back (leave it out when there is none)' },
    model: { type: 'string', maxLength: 64, description: 'Model name' },
    product: { type: 'string', maxLength: 64, description: 'Older name for model' },
    version: { type: 'integer', minimum: 1, maximum: MAX_VERSION, description: 'Pin a version: bypasses canary routing' },
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

/**
 * What the caller may not have meant: an unknown field is ignored, and a feature it may have
 * meant (CreditScore for creditscore) then goes missing; a category the version does not know
 * ("Two-year" for "Two year") is scored as unseen. Each is named, with what was likely meant.
 */
/** Unknown fields a reply names one by one; the rest are counted. */
const UNKNOWN_NAMED = 10;

const warningsOf = (enc: EncodedRow, where: string, servable: Servable): string[] | undefined => {
  if (!enc.unknown && !enc.unseen && !enc.absent && !enc.overflowed) return undefined;
  const { spec } = servable;
  const { contract, target } = spec;
  const features = contract.features;
  const names = enc.unknown ? features.map((x) => x.name) : [];
  const out: string[] = [];
  let unnamed = 0;
  for (const f of enc.unknown ?? []) {
    // The rest of a training file's row: the version was trained without these columns.
    if (leftOutReason(spec, f) !== undefined) continue;
    if (f === target) out.push(`${where}.${f}: the outcome this version predicts, ignored; ${FEEDBACK_ADVICE}`);
    // A row with thousands of extra fields would get a reply bigger than the request.
    else if (out.length >= UNKNOWN_NAMED) unnamed++;
    else out.push(`${where}.${f.length > 60 ? quoted(f) : f}: unknown field, ignored${caseHint(names, [f])}`);
  }
  if (unnamed) out.push(`${where}: ${unnamed.toLocaleString('en-US')} more unknown field${unnamed === 1 ? '' : 's'}, ignored`);
  for (const i of enc.unseen ?? []) out.push(unseenCategoryWarning(where, features[i], enc.row[i] as string, contract.missing_category));
  for (const i of enc.overflowed ?? [])
    out.push(`${where}.${features[i].name}: a number beyond a double's range (read as Infinity), scored as a missing value, as the version's trainer read such a cell`);
  if (enc.absent)
    out.push(
      absentWarning(
        where,
        enc.absent.map((i) => features[i].name),
        features.length,
      ),
    );
  return out.length ? out : undefined;
};

/**
 * A feature left out is scored as a missing value, as null is; said, because a client that
 * stopped sending one (a renamed column, a dropped join) would otherwise change scores unheard.
 */
function absentWarning(where: string, absent: string[], of: number): string {
  const SHOWN = 10;
  if (absent.length === 1) return `${where}.${absent[0]}: absent, scored as a missing value (send null when it is not known)`;
  const list = absent.length > SHOWN ? `${absent.slice(0, SHOWN).join(', ')} and ${absent.length - SHOWN} more` : absent.join(', ');
  return `${where}: ${absent.length} of ${of} features absent, scored as missing values: ${list} (send null for a value that is not known)`;
}

export async function inferenceRoutes(fastify: FastifyInstance, deps: InferenceRouteDeps): Promise<void> {
  // Request types come from the route schemas, so the two cannot drift.
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { pool, observer, cache, sink } = deps;
  const recorderOf = recorders(deps.metrics);
  const scoreBatch = batchScorer(deps, recorderOf);

  app.post(
    '/v1/infer',
    {
      // No compression hooks on the hot path (see app.ts): its bodies and replies are small.
      compress: false,
      decompress: false,
      config: { scope: 'infer' },
      schema: { tags: ['inference'], summary: 'Score one row with a model', body: inferBody, response: { 200: inferReply, ...errors } },
    },
    async (request) => {
      const body = request.body;
      const model = body.model ?? body.product;
      if (!model) throw new AppError('VALIDATION_FAILED', 'body.model: is required (the model name; older clients send product)', { field: 'body.model' });
      if (body.version !== undefined && body.alias !== undefined) throw new AppError('VALIDATION_FAILED', 'body: give version or alias, not both', { field: 'body.alias' });
      let resolved = pool.resolve(model, { version: body.version, alias: body.alias, routingKey: body.routing_key ?? body.event_id });
      // Nearly always known at once; awaiting only when it is a promise saves a turn of the microtask queue.
      if (resolved instanceof Promise) resolved = await resolved;
      const { servable, alias, arm, shadow } = resolved;
      const encoded = servable.encoder.encode(body.payload, 'payload');
      const row = encoded.row;
      const started = performance.now();
      // The key is built once: a miss stores under the same key it looked up.
      const key = cache?.keyOf(servable, row);
      let outcome = cache?.get(servable, key);
      const cached = outcome !== undefined;
      // Versions (a canary's arms) are measured by the time each request waited for its own version, not for another's in the same turn (RunTiming).
      const timing: RunTiming = { ms: -1 };
      if (outcome === undefined) {
        try {
          outcome = await servable.scoreOne(row, timing);
        } catch (e) {
          if (arm !== 'pinned') observer?.failed(model, arm, servable.spec.version, performance.now() - started);
          throw inferenceFailed(e, model, servable.spec.version, arm);
        }
        cache?.set(key, outcome);
      } else {
        await checkPhase();
      }
      requireFinite(outcome, 'payload', servable);
      const elapsedMs = performance.now() - started;
      const ownMs = timing.ms >= 0 ? timing.ms : elapsedMs;
      const rec = recorderOf(servable, arm);
      rec.observe(ownMs / 1e3);
      const decision = servable.decide(outcome);
      rec.count(decision);
      const predictionId = newPredictionId();
      if (arm !== 'pinned' && observer) {
        observer.scored(model, arm, servable.spec.version, ownMs, outcome, decision, cached);
        if (shadow) observer.shadow(model, shadow, row, outcome, decision, { predictionId, eventId: body.event_id, payload: body.payload, keyId: request.principal?.id });
      }
      sink?.predicted({
        id: predictionId,
        model,
        version: servable.spec.version,
        arm,
        eventId: body.event_id,
        payload: body.payload,
        body,
        bodyText: request.bodyText ?? undefined,
        row,
        featureNames: servable.featureNames,
        score: outcome.score,
        label: outcome.label,
        decision,
        latencyMs: elapsedMs,
        cached,
        keyId: request.principal?.id,
      });
      const shown = servable.present(outcome, decision);
      // One shape for every reply, absent fields undefined (the serializer leaves them out): no
      // spread objects to build per request.
      return {
        prediction_id: predictionId,
        event_id: body.event_id,
        model,
        version: servable.spec.version,
        alias: alias || undefined,
        arm,
        score: shown.score,
        label: shown.label,
        probabilities: shown.probabilities,
        value: shown.value,
        decision: shown.decision,
        cached,
        warnings: warningsOf(encoded, 'payload', servable),
      };
    },
  );

  app.post(
    '/v1/models/:name/predict',
    {
      config: { scope: 'infer' },
      schema: {
        tags: ['inference'],
        summary: 'Score many rows in one call',
        params: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
        body: {
          type: 'object',
          required: ['instances'],
          properties: {
            instances: { type: 'array', minItems: 1, maxItems: deps.maxInstances, items: {} },
            version: { type: 'integer', minimum: 1, maximum: MAX_VERSION },
            routing_key: { type: 'string', maxLength: 256, description: 'Entity key for sticky canary routing of the whole batch' },
            event_ids: {
              type: 'array',
              maxItems: deps.maxInstances,
              items: { type: 'string', minLength: 1, maxLength: 256 },
              description: "One per instance, in order: each prediction's event id (echoed back, audited, and what feedback can name it by)",
            },
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
                  properties: { prediction_id: { type: 'string' }, event_id: { type: 'string' }, ...outcomeProperties, cached: { type: 'boolean' }, warnings: warningsSchema },
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
      const { instances, event_ids: eventIds } = request.body;
      if (eventIds && eventIds.length !== instances.length)
        throw new AppError('VALIDATION_FAILED', `event_ids: ${eventIds.length} ${eventIds.length === 1 ? 'id' : 'ids'} for ${instances.length} instances; give one per instance, in the same order`, {
          field: 'event_ids',
        });
      const rows: Row[] = new Array(instances.length);
      const warnings: (string[] | undefined)[] = new Array(instances.length);
      for (let i = 0; i < instances.length; i++) {
        const enc = servable.encoder.encode(instances[i], `instances[${i}]`);
        rows[i] = enc.row;
        warnings[i] = warningsOf(enc, `instances[${i}]`, servable);
      }
      const scored = await scoreBatch({ servable, arm, rows, payloads: instances, eventIds, keyId: request.principal?.id });
      const predictions = scored.map((p, i) => ({
        prediction_id: p.id,
        ...(eventIds ? { event_id: eventIds[i] } : {}),
        ...servable.present(p.outcome, p.decision),
        cached: p.cached,
        ...(warnings[i] ? { warnings: warnings[i] } : {}),
      }));
      return { model, version: servable.spec.version, ...(alias ? { alias } : {}), arm, predictions };
    },
  );

  if (deps.oip) await app.register(oipRoutes, { ...deps.oip, pool, scoreBatch, maxInstances: deps.maxInstances });
}
