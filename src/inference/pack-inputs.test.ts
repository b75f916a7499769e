import { readFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { demoModel, FIXTURES } from '../../test/helpers/fixtures.js';
import { faultyModel } from '../../test/helpers/faulty-model.js';
import { rowPayload } from '../training/index.js';
import { deriveContract } from './contract.js';
import { exposeZipMapSource, graphNames, inspectGraph } from './onnx-graph.js';
import { packInputs } from './pack-inputs.js';
import { Servable, type ServableSpec } from './servable.js';

const policy = { type: 'threshold' as const, threshold: 0.5, above: 'act', below: 'none' };

function specOf(bytes: Uint8Array, model = 'm'): ServableSpec {
  const { contract, output } = deriveContract(inspectGraph(bytes));
  return { model, version: 1, contract, output, policy };
}

// Packing is an onnxruntime rewrite: these tests hold the version on onnxruntime.
const load = (bytes: Uint8Array, packInputs: boolean, onPackFallback?: (s: ServableSpec, r: string) => void) =>
  Servable.load(bytes, specOf(bytes), { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, packInputs, onPackFallback, engine: 'onnxruntime' });

describe('input packing', () => {
  it('feeds the demo pipeline as one float and one string tensor and scores as the trainer does', async () => {
    const demo = demoModel();
    const s = await load(demo.onnx, true);
    try {
      expect(s.packed).toBe(true);
      const rows = Array.from({ length: 300 }, (_, i) => s.encoder.encode(rowPayload(demo.holdout.data, i), 'p').row);
      const feeds = s.encoder.feeds(rows);
      // 10 numeric columns in one [N,10] float tensor, 4 categorical in one [N,4] string tensor.
      expect(Object.values(feeds).map((t) => [t.type, ...t.dims])).toEqual([
        ['float', 300, 10],
        ['string', 300, 4],
      ]);
      const scores = await s.scores(rows);
      // Independent check: the trainer's own in-memory predictions for the same holdout rows.
      scores.forEach((v, i) => expect(Math.abs(v - demo.holdout.scores[i])).toBeLessThan(1e-5));
    } finally {
      await s.release();
    }
  });

  it('the packed graph takes the packed inputs only, and keeps every field it does not touch byte for byte', () => {
    const demo = demoModel();
    // An unknown field (number 99, a string) in the graph: newer ONNX schemas add such fields.
    const extra = new Uint8Array([0x9a, 0x06, 5, ...new TextEncoder().encode('keep!')]);
    const { onnx } = onnxProto;
    const m = onnx.ModelProto.decode(demo.onnx);
    const graph = onnx.GraphProto.encode(m.graph!).finish();
    m.graph = null;
    const head = onnx.ModelProto.encode(m).finish();
    const withExtra = new Uint8Array([...head, 0x3a, ...varint(graph.length + extra.length), ...graph, ...extra]);
    const columns = specOf(demo.onnx).contract.features.map((f) => ({ input: f.input, type: f.type, rank2: true }));
    const packed = packInputs(withExtra, columns, graphNames(withExtra))!;
    expect(packed.feeds.map((f) => [f.input, f.type, f.columns.length])).toEqual([
      ['modelgate_packed_float', 'float', 10],
      ['modelgate_packed_string', 'string', 4],
    ]);
    const info = inspectGraph(packed.bytes);
    expect(info.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['modelgate_packed_float', [null, 10]],
      ['modelgate_packed_string', [null, 4]],
    ]);
    expect(Buffer.from(packed.bytes).includes(Buffer.from(extra))).toBe(true);
  });

  it('turns the Concat of the numeric columns into one Gather, and splits out only the columns other nodes read', async () => {
    const demo = demoModel();
    const columns = specOf(demo.onnx).contract.features.map((f) => ({ input: f.input, type: f.type, rank2: true }));
    const { onnx } = onnxProto;
    const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType ?? '');
    const count = (xs: string[], op: string) => xs.filter((x) => x === op).length;
    // The demo graph concatenates its 10 numeric inputs (and, later, the transformed blocks).
    expect(count(ops(demo.onnx), 'Concat')).toBe(3);
    const packed = packInputs(demo.onnx, columns, graphNames(demo.onnx))!;
    // One Gather for the numeric block, one per categorical column (each feeds its own OneHotEncoder).
    expect(count(ops(packed.bytes), 'Gather')).toBe(1 + 4);
    expect(count(ops(packed.bytes), 'Concat')).toBe(2);

    // A second reader of lead_time (here an extra graph output) keeps that column's own Gather.
    const m = onnx.ModelProto.decode(demo.onnx);
    m.graph!.node!.push(onnx.NodeProto.create({ opType: 'Identity', name: 'copy', input: ['lead_time'], output: ['lead_time_copy'] }));
    m.graph!.output!.push(onnx.ValueInfoProto.create({ name: 'lead_time_copy', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }] } } } }));
    const twoReaders = onnx.ModelProto.encode(m).finish();
    const packed2 = packInputs(twoReaders, columns, graphNames(twoReaders))!;
    expect(count(ops(packed2.bytes), 'Gather')).toBe(1 + 4 + 1);
    const session = await ort.InferenceSession.create(packed2.bytes);
    try {
      const s = await load(demo.onnx, false);
      const rows = Array.from({ length: 5 }, (_, i) => s.encoder.encode(rowPayload(demo.holdout.data, i), 'p').row);
      await s.release();
      const floats = packed2.feeds[0].columns;
      const data = new Float32Array(rows.flatMap((r) => floats.map((c) => Number(r[c]))));
      const strings = rows.flatMap((r) => packed2.feeds[1].columns.map((c) => String(r[c])));
      const out = await session.run({
        [packed2.feeds[0].input]: new ort.Tensor('float32', data, [5, floats.length]),
        [packed2.feeds[1].input]: new ort.Tensor('string', strings, [5, strings.length / 5]),
      });
      const leadCol = columns.findIndex((c) => c.input === 'lead_time');
      expect([...(out.lead_time_copy.data as Float32Array)]).toEqual(rows.map((r) => Math.fround(Number(r[leadCol]))));
      // Scores as the trainer does (independent of the rewrite).
      const probs = out.probabilities.data as Float32Array;
      rows.forEach((_, i) => expect(Math.abs(probs[i * 2 + 1] - demo.holdout.scores[i])).toBeLessThan(1e-5));
    } finally {
      await session.release();
    }
  });

  it('picks fresh names when the graph already uses the packed input name', () => {
    const demo = demoModel();
    const columns = specOf(demo.onnx).contract.features.map((f) => ({ input: f.input, type: f.type, rank2: true }));
    const packed = packInputs(demo.onnx, columns, new Set([...graphNames(demo.onnx), 'modelgate_packed_float']))!;
    expect(packed.feeds[0].input).toBe('modelgate_packed_float_2');
  });

  it("serves scikit-learn's 19-input ZipMap pipeline through the packed graph within 1e-5 of predict_proba", async () => {
    const bytes = readFileSync(path.join(FIXTURES, 'telco_churn.onnx'));
    const expected = JSON.parse(readFileSync(path.join(FIXTURES, 'telco_churn.expected.json'), 'utf8')) as { rows: Record<string, unknown>[]; proba: number[] };
    const s = await load(bytes, true);
    try {
      expect(s.packed).toBe(true);
      const scores = await s.scores(expected.rows.map((r) => s.encoder.encode(r, 'p').row));
      scores.forEach((v, i) => expect(Math.abs(v - expected.proba[i])).toBeLessThan(1e-5));
    } finally {
      await s.release();
    }
  });

  it('hands onnxruntime 2 tensors per run instead of 19 (the run-time gain is measured by npm run bench)', async () => {
    const bytes = exposeZipMapSource(readFileSync(path.join(FIXTURES, 'telco_churn.onnx')), 'output_probability').bytes;
    const spec = specOf(readFileSync(path.join(FIXTURES, 'telco_churn.onnx')));
    const columns = spec.contract.features.map((f) => ({ input: f.input, type: f.type, rank2: true }));
    const packed = packInputs(bytes, columns, graphNames(bytes))!;
    const session = await ort.InferenceSession.create(packed.bytes);
    expect([...session.inputNames].sort()).toEqual(['modelgate_packed_float', 'modelgate_packed_string']);
    await session.release();
  });

  it('falls back to the original graph, and says why, when the rewrite cannot be checked', async () => {
    const demo = demoModel();
    // Fails inside onnxruntime for any lead_time >= 0.01: every probe row, so nothing can be compared.
    const bytes = faultyModel(demo.preprocessor, 0.01);
    const reasons: string[] = [];
    const s = await load(bytes, true, (_spec, r) => reasons.push(r));
    try {
      expect(s.packed).toBe(false);
      expect(reasons).toEqual(['the probe rows could not be scored']);
      // Still serves the rows it can score.
      const row = s.encoder.encode({ ...rowPayload(demo.holdout.data, 0), lead_time: 0 }, 'p').row;
      expect(await s.scores([row])).toEqual([expect.closeTo(0.3, 6)]);
    } finally {
      await s.release();
    }
  });

  it('is off when asked', async () => {
    const s = await load(demoModel().onnx, false);
    expect(s.packed).toBe(false);
    expect(Object.keys(s.encoder.feeds([s.encoder.sampleRow()]))).toHaveLength(14);
    await s.release();
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
