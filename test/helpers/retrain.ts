import { stringify } from 'csv-stringify/sync';
import { rowPayload, type Dataset } from '../../src/training/index.js';
import { indexSplit, trainModel } from '../../src/training/train.js';
import type { TestServer } from './server.js';

/** A hotel-bookings dataset as the CSV `modelgate train` and `retrain` read (target is_canceled). */
export function csvOf(d: Dataset): string {
  const cols = [...Object.keys(d.numeric), ...Object.keys(d.categorical)];
  return stringify([
    [...cols, 'is_canceled'],
    ...Array.from({ length: d.rows }, (_, i) => {
      const p = rowPayload(d, i);
      return [...cols.map((c) => p[c] ?? ''), d.label[i]];
    }),
  ]);
}

/** A version of `hotel` (or `model`) as `modelgate train` registers it, promoted: the model, its policy, and the run record retrain repeats. */
/** `withoutSketch`: as a version trained before runs kept a sample of their rows (2026-12-07). */
/** `as001`: as modelgate 0.0.1 recorded a run (read off a real one): the target only among the column roles, no task, gates or sample of rows. */
export async function registerTrained(s: TestServer, data: Dataset, model = 'hotel', algo: 'logreg' | 'gbdt' = 'logreg', o: { withoutSketch?: boolean; as001?: boolean } = {}) {
  const split = indexSplit(data, 0.25);
  const t = trainModel({ data, algo, split });
  const { rows_sketch: sketch, ...record } = t.run;
  const features = [...Object.keys(data.numeric).map((name) => ({ name, role: 'numeric' })), ...Object.keys(data.categorical).map((name) => ({ name, role: 'categorical' }))];
  const run = o.as001
    ? { run_id: t.run.run_id, algorithm: algo, split: { kind: 'index', test_fraction: 0.25 }, columns: [...features, { name: 'is_canceled', role: 'target' }], metrics: t.metrics }
    : {
        ...record,
        ...(o.withoutSketch ? {} : { rows_sketch: sketch }),
        target: 'is_canceled',
        task: 'binary',
        split: { kind: 'index', test_fraction: 0.25 },
        gates: { min_auc: 0.6 },
        columns: features,
        metrics: t.metrics,
      };
  const r = await s.ctx.registry.register({
    model,
    onnx: t.onnx,
    policy: t.policy,
    manifest: { missing_category: '', metrics: t.metrics, training: run, run_id: t.run.run_id, reference: t.reference },
    actor: 't',
  });
  await s.ctx.registry.promote({ model, target: 'production', version: r.version, actor: 't' });
  return r.version;
}

export const outbox = async (s: TestServer) =>
  (await s.ctx.db.kysely.selectFrom('webhook_outbox').select(['type', 'payload']).orderBy('created_at').execute()).map((r) => ({
    type: r.type,
    data: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload).data,
  }));
