import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import type { ModelPool } from './pool.js';
import type { Row } from './encoder.js';
import type { Servable } from './servable.js';

export interface InferenceMetrics {
  predictions: { labels(labels: { model: string; version: string; decision: string }): { inc(n?: number): void } };
  inferenceDuration: { labels(labels: { model: string; version: string }): { observe(seconds: number): void } };
}

interface Recorder {
  observe(seconds: number): void;
  count(decision: string, n?: number): void;
}

/** Metric children per loaded version, so the hot path does no label hashing. */
function recorders(metrics: InferenceMetrics): (s: Servable) => Recorder {
  const cache = new WeakMap<Servable, Recorder>();
  return (s) => {
    let r = cache.get(s);
    if (!r) {
      const labels = { model: s.spec.model, version: s.versionLabel };
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
      cache.set(s, r);
    }
    return r;
  };
}

export interface InferenceRouteDeps {
  pool: ModelPool;
  metrics: InferenceMetrics;
  maxInstances: number;
}

const errors = errorReplies(400, 401, 403, 404, 413, 415, 500, 503);

const warningsSchema = { type: 'array', items: { type: 'string' }, description: 'Payload fields the model does not use; they were ignored' } as const;

const inferBody = {
  type: 'object',
  required: ['payload'],
  properties: {
    event_id: { type: 'string', maxLength: 256, description: 'Caller id for this event; echoed back' },
    model: { type: 'string', maxLength: 64, description: 'Model name' },
    product: { type: 'string', maxLength: 64, description: 'Older name for model' },
    version: { type: 'integer', minimum: 1, description: 'Pin a version instead of production' },
    payload: { type: 'object', additionalProperties: true, description: 'Feature name → value; null or missing numeric = missing' },
  },
} as const;

const inferReply = {
  type: 'object',
  properties: {
    prediction_id: { type: 'string' },
    event_id: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'integer' },
    alias: { type: 'string' },
    score: { type: 'number' },
    decision: { type: 'string' },
    warnings: warningsSchema,
  },
  required: ['prediction_id', 'model', 'version', 'score', 'decision'],
} as const;

interface InferBody {
  event_id?: string;
  model?: string;
  product?: string;
  version?: number;
  payload: unknown;
}

const warningsOf = (unknown: string[] | undefined, where: string) => unknown?.map((f) => `${where}.${f}: unknown field, ignored`);

export async function inferenceRoutes(app: FastifyInstance, deps: InferenceRouteDeps): Promise<void> {
  const { pool } = deps;
  const recorderOf = recorders(deps.metrics);

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
      const { servable, alias } = await pool.resolve(model, body.version);
      const { row, unknown } = servable.encoder.encode(body.payload, 'payload');
      const started = process.hrtime.bigint();
      const score = await servable.scoreOne(row);
      const rec = recorderOf(servable);
      rec.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const decision = servable.decide(score);
      rec.count(decision);
      return {
        prediction_id: randomUUID(),
        ...(body.event_id !== undefined ? { event_id: body.event_id } : {}),
        model,
        version: servable.spec.version,
        ...(alias ? { alias } : {}),
        score,
        decision,
        ...(unknown ? { warnings: warningsOf(unknown, 'payload') } : {}),
      };
    },
  );

  app.post<{ Params: { name: string }; Body: { instances: unknown[]; version?: number } }>(
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
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              version: { type: 'integer' },
              alias: { type: 'string' },
              predictions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { prediction_id: { type: 'string' }, score: { type: 'number' }, decision: { type: 'string' }, warnings: warningsSchema },
                  required: ['prediction_id', 'score', 'decision'],
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
      const { servable, alias } = await pool.resolve(model, request.body.version);
      const instances = request.body.instances;
      const rows: Row[] = new Array(instances.length);
      const unknowns: (string[] | undefined)[] = new Array(instances.length);
      for (let i = 0; i < instances.length; i++) {
        const enc = servable.encoder.encode(instances[i], `instances[${i}]`);
        rows[i] = enc.row;
        unknowns[i] = enc.unknown;
      }
      const started = process.hrtime.bigint();
      const scores = await servable.scoreMany(rows);
      const rec = recorderOf(servable);
      rec.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const counts = new Map<string, number>();
      const predictions = scores.map((score, i) => {
        const decision = servable.decide(score);
        counts.set(decision, (counts.get(decision) ?? 0) + 1);
        return { prediction_id: randomUUID(), score, decision, ...(unknowns[i] ? { warnings: warningsOf(unknowns[i], `instances[${i}]`) } : {}) };
      });
      for (const [decision, n] of counts) rec.count(decision, n);
      return { model, version: servable.spec.version, ...(alias ? { alias } : {}), predictions };
    },
  );
}
