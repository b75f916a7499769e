import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileGraph, Unsupported } from '../src/inference/compiled/index.js';
import { onnx } from '../src/lib/onnx-proto.js';
import { defaultPolicy, deriveContract, inspectGraph, Servable, type RuntimeOptions, type ServableSpec } from '../src/inference/index.js';
import type { Row } from '../src/inference/encoder.js';
import { floatTensor, int64Tensor, model, node, valueInfo } from '../src/training/onnx-builder.js';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { ingestCsv } from '../src/training/csv.js';
import { generateCarListings } from '../src/training/synthetic-cars.js';
import { exportTrees, syntheticEnsemble } from '../src/training/trees.js';
import { indexSplit, trainModel } from '../src/training/train.js';
import { trainKindModel } from '../src/training/train-kinds.js';
import { FIXTURES } from './helpers/fixtures.js';
import { tempDir } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The compiled engine: every graph that serves through onnxruntime serves the same outputs
 * (≤ 1e-6; relative above 1, where float32 itself is coarser) as compiled JavaScript, and a
 * graph it cannot reproduce serves on onnxruntime with the reason shown.
 */
const opts: RuntimeOptions = { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } };

function specOf(bytes: Uint8Array, featureNames?: string[], missing?: string): ServableSpec {
  const { contract, output } = deriveContract(inspectGraph(bytes), { featureNames });
  if (missing !== undefined && contract.features.some((f) => f.type === 'string')) contract.missing_category = missing;
  return { model: 'm', version: 1, contract, output, policy: defaultPolicy(contract.task ?? 'binary') };
}

/** Load a version on both engines; the compiled one must have been accepted. */
async function both(bytes: Uint8Array, spec: ServableSpec) {
  const reasons: string[] = [];
  const compiled = await Servable.load(bytes, spec, { ...opts, onEngineFallback: (_s, r) => reasons.push(r) });
  const ort = await Servable.load(bytes, spec, { ...opts, engine: 'onnxruntime' });
  expect(reasons).toEqual([]);
  expect(compiled.engineName).toBe('compiled');
  expect(ort.engineName).toBe('onnxruntime');
  return { compiled, ort, release: () => Promise.all([compiled.release(), ort.release()]) };
}

/**
 * Within 1e-6, scaled for values above 1 by the largest value in the batch: a float32 sum
 * carries an error proportional to the size of what it adds up, not to its result.
 */
const close = (a: number, b: number, scale = 1) => (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= 1e-6 * Math.max(1, scale);

/** Rows with the values that break naive code in every numeric column, and unseen or empty categories. */
function hostileRows(spec: ServableSpec, base: Row): Row[] {
  const values = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e300, 5e-324, 1e-40, -0, 0.5];
  const rows: Row[] = [];
  spec.contract.features.forEach((f, i) => {
    if (f.type === 'float' || f.type === 'double') for (const v of values) rows.push(base.map((x, j) => (j === i ? v : x)));
    if (f.type === 'string') for (const v of ['never seen', '', '<script>']) rows.push(base.map((x, j) => (j === i ? v : x)));
  });
  return rows;
}

async function expectSame(compiled: Servable, ort: Servable, rows: Row[]) {
  const [a, b] = await Promise.all([compiled.run(rows), ort.run(rows)]);
  const scale = Math.max(...b.flatMap((o) => (o.probabilities ?? [o.score]).filter(Number.isFinite).map(Math.abs)));
  let worst = 0;
  a.forEach((o, i) => {
    const x = o.probabilities ?? [o.score];
    const y = b[i].probabilities ?? [b[i].score];
    x.forEach((v, k) => {
      expect(close(v, y[k], scale), `row ${i} value ${k}: compiled ${v}, onnxruntime ${y[k]} (batch scale ${scale})`).toBe(true);
      if (Number.isFinite(v)) worst = Math.max(worst, Math.abs(v - y[k]));
    });
    expect(compiled.decide(o)).toBe(ort.decide(b[i]));
  });
  return worst;
}

describe('compiled engine: every fixture graph', () => {
  const names = ['telco_churn', 'telco_numeric', 'telco_gbdt', 'telco_forest', 'telco_xgb', 'bank_geography', 'telco_charges', 'telco_lgbm', 'bank_lgbm_geography', 'telco_lgbm_charges'];
  for (const name of names) {
    it(`${name}: compiled, and equal to onnxruntime on the fixture rows and on hostile values`, async () => {
      const bytes = readFileSync(path.join(FIXTURES, `${name}.onnx`));
      const expected = JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as {
        rows: Record<string, unknown>[];
        feature_names?: string[];
        onnxruntime?: (number | number[])[];
      };
      const spec = specOf(bytes, expected.feature_names, 'missing');
      const { compiled, ort, release } = await both(bytes, spec);
      try {
        const rows = expected.rows.map((r) => compiled.encoder.encode(r, 'row').row);
        await expectSame(compiled, ort, [...rows, ...hostileRows(spec, rows[0])]);
        // And against what onnxruntime-node computed when the fixture was made, where it was recorded.
        if (expected.onnxruntime) {
          const served = await compiled.run(rows);
          const scale = Math.max(...expected.onnxruntime.flat().map(Math.abs));
          served.forEach((o, i) => {
            const want = expected.onnxruntime![i];
            (Array.isArray(want) ? want : [want]).forEach((w, k) => expect(close((o.probabilities ?? [o.score])[k], w, scale)).toBe(true));
          });
        }
      } finally {
        await release();
      }
    });
  }
});

describe('compiled engine: runs of every size in any order, as a server batches them', () => {
  for (const name of ['telco_gbdt', 'telco_churn'] as const) {
    it(`${name}: batches of 7, 1, 3, 64, 2 rows and one of 2,000 (past the kept buffers' size), each equal to onnxruntime`, async () => {
      const bytes = readFileSync(path.join(FIXTURES, `${name}.onnx`));
      const expected = JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as { rows: Record<string, unknown>[] };
      const spec = specOf(bytes, undefined, 'missing');
      const { compiled, ort, release } = await both(bytes, spec);
      try {
        const all = expected.rows.map((r) => compiled.encoder.encode(r, 'row').row);
        const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => all[(from + i) % all.length]);
        let from = 0;
        // Larger runs leave values in the kept buffers; a smaller one after them must not read any.
        for (const n of [7, 1, 3, 64, 2, 2000, 5, 1]) {
          await expectSame(compiled, ort, rows(from, n));
          from += n;
        }
      } finally {
        await release();
      }
    });
  }
});

describe("compiled engine: modelgate's own exports", () => {
  const hotel = generateHotelBookings(3000, 5);
  const split = indexSplit(hotel, 0.25);
  for (const algo of ['gbdt', 'logreg'] as const) {
    it(`binary ${algo}: compiled and equal to onnxruntime`, async () => {
      const t = trainModel({ data: hotel, algo, split, gbdt: { rounds: 60 } });
      const spec = specOf(t.onnx, undefined, '');
      const { compiled, ort, release } = await both(t.onnx, spec);
      try {
        const rows = Array.from({ length: 300 }, (_, i) => compiled.encoder.encode(rowPayload(split.test, i), 'row').row);
        await expectSame(compiled, ort, [...rows, ...hostileRows(spec, rows[0])]);
      } finally {
        await release();
      }
    });
  }

  const dir = tempDir();
  const file = path.join(dir, 'cars.csv');
  writeFileSync(file, generateCarListings(1500, 3).csv);
  for (const [target, task] of [
    ['price', 'regression'],
    ['fuel', 'multiclass'],
  ] as const) {
    for (const algo of ['gbdt', 'logreg'] as const) {
      it(`${task} ${algo}: compiled and equal to onnxruntime`, async () => {
        const ingested = await ingestCsv(file, { target });
        const s = indexSplit(ingested.data, 0.25);
        const t = trainKindModel({ data: ingested.data, algo, split: s, gbdt: { rounds: 40 } });
        const spec = { ...specOf(t.onnx, undefined, ''), policy: t.policy };
        const { compiled, ort, release } = await both(t.onnx, spec);
        try {
          const rows = Array.from({ length: s.test.rows }, (_, i) => compiled.encoder.encode(rowPayload(s.test, i), 'row').row);
          await expectSame(compiled, ort, [...rows, ...hostileRows(spec, rows[0])]);
        } finally {
          await release();
        }
      });
    }
  }
});

/** A one-node-at-a-time graph: float [N,2] in, through `nodes`, to `out`. */
function tiny(nodes: ReturnType<typeof node>[], out: string, opts: { input?: 'float' | 'string'; inits?: ReturnType<typeof floatTensor>[] } = {}) {
  return model({ name: 'tiny', nodes, inputs: [valueInfo('x', opts.input ?? 'float', ['N', 2])], outputs: [valueInfo(out, 'float', ['N', 1])], initializers: opts.inits ?? [] });
}

function treeAttrs(aggregate?: string) {
  return {
    n_targets: 1,
    nodes_treeids: [0, 0, 0],
    nodes_nodeids: [0, 1, 2],
    nodes_featureids: [0, 0, 0],
    nodes_modes: ['BRANCH_LEQ', 'LEAF', 'LEAF'],
    nodes_values: { floats: [0.5, 0, 0] },
    nodes_truenodeids: [1, 0, 0],
    nodes_falsenodeids: [2, 0, 0],
    target_treeids: [0, 0],
    target_nodeids: [1, 2],
    target_ids: [0, 0],
    target_weights: { floats: [0.25, 0.75] },
    ...(aggregate ? { aggregate_function: aggregate } : {}),
  };
}

/**
 * scikit-learn's ColumnTransformer: one OneHotEncoder per string column, then Concat. The
 * compiler fuses that into one step (compiled/fuse.ts); these graphs take the fused path and
 * the paths where it must run the nodes one by one, each against onnxruntime itself.
 */
describe('compiled engine: one-hot columns fused into their Concat', () => {
  const cats = { a: ['x', 'y'], b: ['p', 'q', 'r'] };
  const graph = (opts: { axis: number; zeros?: number; extraReader?: boolean; sameCounts?: boolean }) => {
    const bCats = opts.sameCounts ? ['p', 'q'] : cats.b;
    const nodes = [
      node('OneHotEncoder', ['a'], ['ah'], { cats_strings: cats.a, zeros: opts.zeros ?? 1 }, 'ai.onnx.ml'),
      node('OneHotEncoder', ['b'], ['bh'], { cats_strings: bCats, zeros: opts.zeros ?? 1 }, 'ai.onnx.ml'),
      node('Concat', ['ah', 'bh'], ['c'], { axis: opts.axis }),
      node('Reshape', ['c', 'flat'], ['s']),
      // Weights by position, so a one in the wrong column changes the result.
      node('Mul', ['s', 'w'], ['sw']),
      ...(opts.extraReader ? [node('Reshape', ['ah', 'flat'], ['as']), node('Concat', ['sw', 'as'], ['y'], { axis: 1 })] : [node('Identity', ['sw'], ['y'])]),
    ];
    const width = cats.a.length + bCats.length;
    const w = Array.from({ length: width }, (_, i) => 1 + i * 10);
    return model({
      name: 'onehots',
      nodes,
      inputs: [valueInfo('a', 'string', ['N', 1]), valueInfo('b', 'string', ['N', 1])],
      outputs: [valueInfo('y', 'float', ['N', width + (opts.extraReader ? cats.a.length : 0)])],
      initializers: [floatTensor('w', [width], w), int64Tensor('flat', [2], [0, -1])],
    });
  };
  const rows = [
    ['x', 'p'],
    ['y', 'r'],
    ['x', 'q'],
    ['y', 'p'],
    ['unseen', 'q'],
    ['', ''],
  ];
  const feeds = (rs: string[][]) => ({
    a: { type: 'string' as const, dims: [rs.length, 1], data: rs.map((r) => r[0]) },
    b: { type: 'string' as const, dims: [rs.length, 1], data: rs.map((r) => r[1]) },
  });
  const onnxruntime = async (bytes: Uint8Array, rs: string[][]) => {
    const ortModule = (await import('onnxruntime-node')).default;
    // A refused row is expected below; onnxruntime's own stderr copy of that error is noise.
    const session = await ortModule.InferenceSession.create(bytes, { logSeverityLevel: 4 });
    try {
      const out = await session.run({
        a: new ortModule.Tensor(
          'string',
          rs.map((r) => r[0]),
          [rs.length, 1],
        ),
        b: new ortModule.Tensor(
          'string',
          rs.map((r) => r[1]),
          [rs.length, 1],
        ),
      });
      return { data: Array.from(out.y.data as Float32Array), dims: out.y.dims };
    } finally {
      await session.release();
    }
  };

  for (const [label, opts] of [
    ['along the new last axis (the fused path)', { axis: -1 }],
    ['along axis 2, the same axis counted from the front', { axis: 2 }],
    ['along axis 1 (run node by node)', { axis: 1, sameCounts: true }],
    ['with a one-hot output also read elsewhere (not fused)', { axis: -1, extraReader: true }],
  ] as const) {
    it(`${label}: equal to onnxruntime, one row and many`, async () => {
      const bytes = graph(opts);
      const program = compileGraph(bytes, 'y');
      const want = await onnxruntime(bytes, rows);
      const got = program.run(feeds(rows));
      expect(got.dims).toEqual(want.dims);
      expect(Array.from(got.data as Float32Array)).toEqual(want.data);
      // One row at a time, then the batch again: the reused buffers carry nothing over.
      for (const [i, r] of rows.entries()) {
        const one = program.run(feeds([r]));
        const width = want.dims[1];
        expect(Array.from(one.data as Float32Array)).toEqual(want.data.slice(i * width, (i + 1) * width));
      }
      expect(Array.from(program.run(feeds(rows)).data as Float32Array)).toEqual(want.data);
    });
  }

  it('with zeros=0 an unseen category is refused, as onnxruntime refuses it', async () => {
    const bytes = graph({ axis: -1, zeros: 0 });
    const program = compileGraph(bytes, 'y');
    expect(Array.from(program.run(feeds([['y', 'q']])).data as Float32Array)).toEqual((await onnxruntime(bytes, [['y', 'q']])).data);
    await expect(onnxruntime(bytes, [['y', 'nope']])).rejects.toThrow();
    expect(() => program.run(feeds([['y', 'nope']]))).toThrow(/unknown category "nope"/);
  });
});

describe('compiled engine: graphs that must stay on onnxruntime, each with its reason', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['an unsupported operator', tiny([node('Erf', ['x'], ['e']), node('ReduceSum', ['e'], ['y'], { keepdims: 1, axes: [1] })], 'y'), /operator Erf/],
    ['a tree ensemble with an unsupported aggregate', tiny([node('TreeEnsembleRegressor', ['x'], ['y'], treeAttrs('MIN'), 'ai.onnx.ml')], 'y'), /aggregate_function MIN/],
    [
      'an attribute the compiler does not know',
      tiny([node('Scaler', ['x'], ['s'], { offset: { floats: [0, 0] }, scale: { floats: [1, 1] }, frobnicate: 1 }, 'ai.onnx.ml'), node('ReduceSum', ['s'], ['y'], { keepdims: 1, axes: [1] })], 'y'),
      /attribute frobnicate/,
    ],
    [
      // Two trees of nodes 0–2: node id 3 is in neither, however (tree, node) pairs are numbered.
      'a branch that points past its own tree',
      tiny(
        [
          node(
            'TreeEnsembleRegressor',
            ['x'],
            ['y'],
            {
              ...treeAttrs(),
              nodes_treeids: [0, 0, 0, 1, 1, 1],
              nodes_nodeids: [0, 1, 2, 0, 1, 2],
              nodes_featureids: [0, 0, 0, 0, 0, 0],
              nodes_modes: ['BRANCH_LEQ', 'LEAF', 'LEAF', 'BRANCH_LEQ', 'LEAF', 'LEAF'],
              nodes_values: { floats: [0.5, 0, 0, 0.5, 0, 0] },
              nodes_truenodeids: [3, 0, 0, 1, 0, 0],
              nodes_falsenodeids: [2, 0, 0, 2, 0, 0],
              target_treeids: [0, 0, 1, 1],
              target_nodeids: [1, 2, 1, 2],
              target_ids: [0, 0, 0, 0],
              target_weights: { floats: [0.25, 0.75, 0.1, 0.2] },
            },
            'ai.onnx.ml',
          ),
        ],
        'y',
      ),
      /node 0 of tree 0 points to a node that does not exist/,
    ],
    [
      'a string input fed to a numeric node',
      tiny([node('Scaler', ['x'], ['s'], { offset: { floats: [0, 0] }, scale: { floats: [1, 1] } }, 'ai.onnx.ml'), node('ReduceSum', ['s'], ['y'], { keepdims: 1, axes: [1] })], 'y', {
        input: 'string',
      }),
      /input 0 is string/,
    ],
  ];
  for (const [what, bytes, reason] of cases) {
    it(`${what}: refused by the compiler with the reason named`, () => {
      expect(() => compileGraph(bytes, 'y')).toThrow(Unsupported);
      expect(() => compileGraph(bytes, 'y')).toThrow(reason);
    });
  }

  it('a graph onnxruntime serves but the compiler refuses serves on onnxruntime, and the reason is reported', async () => {
    const bytes = tiny([node('TreeEnsembleRegressor', ['x'], ['y'], treeAttrs('MIN'), 'ai.onnx.ml')], 'y');
    const reasons: string[] = [];
    const s = await Servable.load(bytes, specOf(bytes, ['a', 'b']), { ...opts, onEngineFallback: (_s, r) => reasons.push(r) });
    try {
      expect(s.engineName).toBe('onnxruntime');
      expect(s.info.reason).toMatch(/aggregate_function MIN/);
      expect(reasons).toEqual([s.info.reason]);
      // onnxruntime's MIN over one tree is that tree's leaf.
      expect(
        await s.scores([
          [0.2, 0],
          [0.9, 0],
        ]),
      ).toEqual([0.25, 0.75]);
    } finally {
      await s.release();
    }
  });

  it('a compiled graph whose output differs from onnxruntime (injected) is refused and served by onnxruntime', async () => {
    const bytes = tiny([node('TreeEnsembleRegressor', ['x'], ['y'], treeAttrs(), 'ai.onnx.ml')], 'y');
    const reasons: string[] = [];
    const nudge = (out: { data: Float32Array | Float64Array; dims: readonly number[] }) => ({ dims: out.dims, data: out.data.map((v) => (v === 0.75 ? v + 1e-4 : v)) });
    const s = await Servable.load(bytes, specOf(bytes, ['a', 'b']), { ...opts, alterCompiled: nudge, onEngineFallback: (_s, r) => reasons.push(r) });
    try {
      expect(s.engineName).toBe('onnxruntime');
      expect(s.info.reason).toMatch(/compiled output differs from onnxruntime: 0\.750100016\d* where onnxruntime gives 0\.75 on row/);
      expect(await s.scores([[0.9, 0]])).toEqual([0.75]);
      // Untouched, the same graph is compiled: the refusal was the injected difference.
      const clean = await Servable.load(bytes, specOf(bytes, ['a', 'b']), opts);
      expect(clean.engineName).toBe('compiled');
      expect(
        await clean.scores([
          [0.2, 0],
          [0.9, 0],
          [NaN, 0],
        ]),
      ).toEqual([0.25, 0.75, 0.75]);
      await clean.release();
    } finally {
      await s.release();
    }
  });

  it('INFERENCE_ENGINE=onnxruntime keeps a compilable version on onnxruntime', async () => {
    const bytes = tiny([node('TreeEnsembleRegressor', ['x'], ['y'], treeAttrs(), 'ai.onnx.ml')], 'y');
    const s = await Servable.load(bytes, specOf(bytes, ['a', 'b']), { ...opts, engine: 'onnxruntime' });
    expect(s.engineName).toBe('onnxruntime');
    expect(s.info.reason).toBe('INFERENCE_ENGINE=onnxruntime');
    await s.release();
  });

  it('tree sums round to float32 after every tree, as onnxruntime does: equal to the last bit', async () => {
    // 200 stumps whose weights' float32 running sum differs from a double sum rounded once.
    const trees = 200;
    const attrs = {
      n_targets: 1,
      nodes_treeids: Array.from({ length: trees * 3 }, (_, i) => Math.floor(i / 3)),
      nodes_nodeids: Array.from({ length: trees * 3 }, (_, i) => i % 3),
      nodes_featureids: Array.from({ length: trees * 3 }, (_, i) => Math.floor(i / 3) % 2),
      nodes_modes: Array.from({ length: trees * 3 }, (_, i) => (i % 3 === 0 ? 'BRANCH_LEQ' : 'LEAF')),
      nodes_values: { floats: Array.from({ length: trees * 3 }, (_, i) => (i % 3 === 0 ? (Math.floor(i / 3) % 7) / 3 : 0)) },
      nodes_truenodeids: Array.from({ length: trees * 3 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
      nodes_falsenodeids: Array.from({ length: trees * 3 }, (_, i) => (i % 3 === 0 ? 2 : 0)),
      target_treeids: Array.from({ length: trees * 2 }, (_, i) => Math.floor(i / 2)),
      target_nodeids: Array.from({ length: trees * 2 }, (_, i) => 1 + (i % 2)),
      target_ids: Array.from({ length: trees * 2 }, () => 0),
      target_weights: { floats: Array.from({ length: trees * 2 }, (_, i) => 0.1 + i * 0.0137 - (i % 2) * 0.31) },
    };
    const bytes = tiny([node('TreeEnsembleRegressor', ['x'], ['y'], attrs, 'ai.onnx.ml')], 'y');
    const program = compileGraph(bytes, 'y');
    const rows = Array.from({ length: 40 }, (_, i) => [(i % 9) / 4, ((i * 5) % 11) / 5]);
    const ortModule = (await import('onnxruntime-node')).default;
    const session = await ortModule.InferenceSession.create(bytes);
    try {
      const want = (await session.run({ x: new ortModule.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 2]) })).y.data as Float32Array;
      const got = program.run({ x: { type: 'float', dims: [rows.length, 2], data: Float32Array.from(rows.flat()) } }).data as Float32Array;
      expect(Array.from(got)).toEqual(Array.from(want));
      // The test can tell: summing in double and rounding once gives different bits on some row.
      const once = rows.map((r) => {
        let sum = 0;
        for (let t = 0; t < trees; t++) sum += Math.fround(attrs.target_weights.floats[2 * t + (r[t % 2] <= Math.fround((t % 7) / 3) ? 0 : 1)]);
        return Math.fround(sum);
      });
      expect(once).not.toEqual(Array.from(want));
    } finally {
      await session.release();
    }
  });

  it('10,000 trees: compiled with memory proportional to the nodes, and equal to onnxruntime', async () => {
    const features = ['a', 'b', 'c', 'd'];
    const m = syntheticEnsemble(features, 10_000, 3, 4);
    const bytes = exportTrees(m);
    const spec = specOf(bytes);
    const program = compileGraph(
      await import('../src/inference/onnx-graph.js').then((g) => (spec.output.source === 'zipmap' ? g.exposeZipMapSource(bytes, spec.output.zipmap_output!).bytes : bytes)),
      spec.output.name,
    );
    const nodes = m.trees.reduce((n, t) => n + t.length, 0);
    // Flat arrays, not generated code, at this size: about 30 bytes per node, less than the serialized graph.
    expect(program.bytes).toBeLessThan(nodes * 32);
    expect(program.bytes).toBeLessThan(bytes.length * 1.5);
    const { compiled, ort, release } = await both(bytes, spec);
    try {
      const rows: Row[] = Array.from({ length: 50 }, (_, i) => features.map((_f, j) => ((i * 7 + j * 3) % 11 === 0 ? NaN : ((i * 13 + j * 5) % 17) / 4)));
      await expectSame(compiled, ort, rows);
    } finally {
      await release();
    }
  });
});

describe.each(['sqlite', 'postgres'] as const)('engine in the API, the CLI data and the metrics (%s)', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ dialect });
    const churn = readFileSync(path.join(FIXTURES, 'telco_churn.onnx'));
    await s.ctx.registry.register({ model: 'churn', onnx: churn, actor: 'test' });
    await s.ctx.registry.promote({ model: 'churn', target: 'production', version: 1, actor: 'test' });
    const odd = tiny([node('TreeEnsembleRegressor', ['x'], ['y'], treeAttrs('MIN'), 'ai.onnx.ml')], 'y');
    await s.ctx.registry.register({ model: 'odd', onnx: odd, featureNames: ['a', 'b'], actor: 'test' });
    await s.ctx.registry.promote({ model: 'odd', target: 'production', version: 1, actor: 'test' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  it('the version API says which engine serves each version and why, and metrics carry the engine label', async () => {
    const churn = await s.app.inject({ method: 'GET', url: '/v1/models/churn/versions/1', headers: s.auth });
    expect(churn.statusCode).toBe(200);
    expect(churn.json().engine).toMatchObject({ engine: 'compiled' });
    expect(churn.json().engine.memory_bytes).toBeGreaterThan(0);
    const odd = await s.app.inject({ method: 'GET', url: '/v1/models/odd/versions/1', headers: s.auth });
    expect(odd.json().engine).toMatchObject({ engine: 'onnxruntime', reason: expect.stringMatching(/aggregate_function MIN/) });
    const list = await s.app.inject({ method: 'GET', url: '/v1/models', headers: s.auth });
    const byName = Object.fromEntries((list.json().models as { name: string; production_engine: unknown }[]).map((m) => [m.name, m.production_engine]));
    expect(byName).toMatchObject({ churn: { engine: 'compiled' }, odd: { engine: 'onnxruntime' } });

    const payload = {
      gender: 'Male',
      SeniorCitizen: 0,
      Partner: 'Yes',
      Dependents: 'No',
      tenure: 5,
      PhoneService: 'Yes',
      MultipleLines: 'No',
      InternetService: 'DSL',
      OnlineSecurity: 'No',
      OnlineBackup: 'No',
      DeviceProtection: 'No',
      TechSupport: 'No',
      StreamingTV: 'No',
      StreamingMovies: 'No',
      Contract: 'Month-to-month',
      PaperlessBilling: 'Yes',
      PaymentMethod: 'Electronic check',
      MonthlyCharges: 50,
      TotalCharges: 250,
    };
    expect((await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'churn', payload } })).statusCode).toBe(200);
    expect((await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'odd', payload: { a: 0.2, b: 0 } } })).statusCode).toBe(200);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/modelgate_predictions_total\{[^}]*model="churn"[^}]*engine="compiled"[^}]*\} 1/);
    expect(metrics).toMatch(/modelgate_inference_duration_seconds_count\{[^}]*model="odd"[^}]*engine="onnxruntime"[^}]*\} 1/);
    expect(metrics).toMatch(/modelgate_model_loaded\{[^}]*model="churn"[^}]*engine="compiled"/);
  });
});

describe('compiled engine: kernels reusing their buffers and parameters from run to run', () => {
  const ortRun = async (bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>, outputs: string[]) => {
    const ortModule = (await import('onnxruntime-node')).default;
    const session = await ortModule.InferenceSession.create(bytes);
    try {
      const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ortModule.Tensor('float32', v.data, v.dims)])), outputs);
      return outputs.map((o) => Array.from(out[o].data as ArrayLike<number | bigint>, Number));
    } finally {
      await session.release();
    }
  };
  const int64Output = (name: string, dims: (number | string)[]) => {
    const v = valueInfo(name, 'float', dims);
    v.type!.tensorType!.elemType = 7;
    return v;
  };

  it('a two-class tree ensemble with a base value per class and LOGISTIC: probabilities and labels as onnxruntime gives them', async () => {
    // Tree 0 weighs both classes; tree 1 only class 1. Base values per class, so both scores
    // are kept (the two-score path), and the label is read from the sums before the transform.
    const attrs = {
      nodes_treeids: [0, 0, 0, 1, 1, 1],
      nodes_nodeids: [0, 1, 2, 0, 1, 2],
      nodes_featureids: [0, 0, 0, 1, 0, 0],
      nodes_modes: ['BRANCH_LEQ', 'LEAF', 'LEAF', 'BRANCH_LEQ', 'LEAF', 'LEAF'],
      nodes_values: { floats: [0.5, 0, 0, 1.5, 0, 0] },
      nodes_truenodeids: [1, 0, 0, 1, 0, 0],
      nodes_falsenodeids: [2, 0, 0, 2, 0, 0],
      class_treeids: [0, 0, 0, 0, 1, 1],
      class_nodeids: [1, 1, 2, 2, 1, 2],
      class_ids: [0, 1, 0, 1, 1, 1],
      class_weights: { floats: [0.7, -0.4, -0.2, 0.9, 0.35, -1.1] },
      classlabels_int64s: [0, 1],
      base_values: { floats: [0.1, -0.3] },
      post_transform: 'LOGISTIC',
    };
    const bytes = model({
      name: 'two-scores',
      nodes: [node('TreeEnsembleClassifier', ['x'], ['label', 'p'], attrs, 'ai.onnx.ml')],
      inputs: [valueInfo('x', 'float', ['N', 2])],
      outputs: [int64Output('label', ['N']), valueInfo('p', 'float', ['N', 2])],
      initializers: [],
    });
    const rows = [
      [0, 0],
      [1, 1],
      [0, 2],
      [1, 2],
      [0.5, 1.5],
      [NaN, NaN],
    ];
    const x = { data: Float32Array.from(rows.flat()), dims: [rows.length, 2] };
    const [wantLabel, wantP] = await ortRun(bytes, { x }, ['label', 'p']);
    const probabilities = compileGraph(bytes, 'p');
    const labels = compileGraph(bytes, 'label');
    for (const pass of [1, 2]) {
      expect(Array.from(probabilities.run({ x: { type: 'float', dims: x.dims, data: x.data } }).data as Float32Array), `pass ${pass}`).toEqual(wantP);
      expect(Array.from(labels.run({ x: { type: 'float', dims: x.dims, data: x.data } }).data as Float64Array), `pass ${pass}`).toEqual(wantLabel);
      // Row by row: the scratch arrays of the previous row carry nothing over.
      rows.forEach((r, i) => {
        const one = probabilities.run({ x: { type: 'float', dims: [1, 2], data: Float32Array.from(r) } }).data as Float32Array;
        expect(Array.from(one)).toEqual(wantP.slice(2 * i, 2 * i + 2));
      });
    }
    // The test can tell: both classes' labels and the transform actually occur in these rows.
    expect(new Set(wantLabel)).toEqual(new Set([0, 1]));
    expect(wantP.every((v) => v > 0 && v < 1)).toBe(true);
  });

  it('Normalizer L1, L2 and MAX: to the last bit as onnxruntime, also where a square overflows float32 (L2 gives NaN there, not 0)', async () => {
    // Rows: ordinary, negative, all zero, a square past float32 (3.4e38² = ∞), a huge and a tiny value, NaN first, denormal, ordinary, all -∞, NaN between.
    const x = {
      data: Float32Array.from([1, 2, 3, -4.5, 0.25, 7, 0, 0, 0, 3.4e38, 1, -2, 1e20, 1e-20, 5, NaN, 1, 2, 1e-45, -3e-39, 2, 0.1, 0.2, 0.3, -Infinity, -Infinity, -Infinity, 1, NaN, 0.5]),
      dims: [10, 3],
    };
    for (const norm of ['L1', 'L2', 'MAX']) {
      const bytes = model({
        name: `norm-${norm}`,
        nodes: [node('Normalizer', ['x'], ['y'], { norm }, 'ai.onnx.ml')],
        inputs: [valueInfo('x', 'float', ['N', 3])],
        outputs: [valueInfo('y', 'float', ['N', 3])],
        initializers: [],
      });
      const [want] = await ortRun(bytes, { x }, ['y']);
      const got = Array.from(compileGraph(bytes, 'y').run({ x: { type: 'float', ...x } }).data as Float32Array);
      expect(got, norm).toEqual(want);
      if (norm === 'L2') expect(Number.isNaN(want[9])).toBe(true);
    }
  });

  it('Relu, Exp, Log, Sum of three broadcast inputs and Clip (constant bounds, one omitted): as onnxruntime on NaN, ±Infinity, huge and denormal values', async () => {
    // 37 values a row: vectorised kernels handle a tail apart, and NaN sits both in a vector and in the tail.
    const values = [NaN, -Infinity, Infinity, 0, -0, 1, -1, 3.4e38, -3.4e38, 1e-45, -1e-45, 88.7, 89, -104, 0.5, -2.5, 7, 1e-30];
    const x = { data: Float32Array.from({ length: 2 * 37 }, (_, k) => values[k % values.length] * (k % 5 === 4 ? -1 : 1)), dims: [2, 37] };
    const row = { data: Float32Array.from({ length: 37 }, (_, k) => (k % 7) - 3), dims: [1, 37] };
    const col = { data: Float32Array.from([0.25, NaN]), dims: [2, 1] };
    const bytes = model({
      name: 'unary',
      nodes: [
        node('Relu', ['x'], ['relu']),
        node('Exp', ['x'], ['exp']),
        node('Log', ['x'], ['log']),
        node('Sum', ['x', 'row', 'col'], ['sum']),
        node('Clip', ['x', 'lo', 'hi'], ['clip']),
        node('Clip', ['x', '', 'hi'], ['clipHi']),
      ],
      inputs: [valueInfo('x', 'float', ['N', 37]), valueInfo('row', 'float', [1, 37]), valueInfo('col', 'float', ['N', 1])],
      outputs: ['relu', 'exp', 'log', 'sum', 'clip', 'clipHi'].map((o) => valueInfo(o, 'float', ['N', 37])),
      initializers: [floatTensor('lo', [], [-2]), floatTensor('hi', [], [5])],
    });
    const names = ['relu', 'exp', 'log', 'sum', 'clip', 'clipHi'];
    const want = await ortRun(bytes, { x, row, col }, names);
    for (const [i, name] of names.entries()) {
      const got = Array.from(compileGraph(bytes, name).run({ x: { type: 'float', ...x }, row: { type: 'float', ...row }, col: { type: 'float', ...col } }).data as Float32Array);
      expect(got.length, name).toBe(want[i].length);
      got.forEach((g, k) => {
        const w = want[i][k];
        // Exp and Log may round the last bit another way (a vectorised approximation): 2 ulps of float32.
        const close = g === w || (Number.isNaN(g) && Number.isNaN(w)) || Math.abs(g - w) <= 2.4e-7 * Math.abs(w);
        expect(close, `${name}[${k}] of ${x.data[k]}: ${g}, onnxruntime ${w}`).toBe(true);
      });
    }
  });

  it('Clip before opset 11, its bounds attributes: compiled, and as onnxruntime', async () => {
    const built = model({
      name: 'clip6',
      nodes: [node('Clip', ['x'], ['y'], { min: -1.5, max: 2.5 })],
      inputs: [valueInfo('x', 'float', ['N', 4])],
      outputs: [valueInfo('y', 'float', ['N', 4])],
      initializers: [],
    });
    const m = onnx().ModelProto.decode(built);
    m.opsetImport = m.opsetImport.map((o) => (o.domain ? o : { ...o, version: 6 }));
    const bytes = onnx().ModelProto.encode(m).finish();
    const x = { data: Float32Array.from([NaN, -Infinity, Infinity, 0, -1.6, -1.5, 2.5, 2.6]), dims: [2, 4] };
    const [want] = await ortRun(bytes, { x }, ['y']);
    expect(Array.from(compileGraph(bytes, 'y').run({ x: { type: 'float', ...x } }).data as Float32Array)).toEqual(want);
  });

  it('Pow by 2, 3 and 0.5, and ReduceLogSumExp over the last axis: as onnxruntime, NaN and ±Infinity rows included', async () => {
    const rows = [
      [1, 2, 3, -4],
      [-0.5, 1e-20, 88, -104],
      [NaN, 1, 2, 3],
      [Infinity, 1, 2, 3],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [-1e30, 3.4e38, 0, 1e-45],
      [700, 701, 702, 703],
    ];
    const x = { data: Float32Array.from(rows.flat()), dims: [rows.length, 4] };
    const bytes = model({
      name: 'pow-lse',
      nodes: [node('Pow', ['x', 'two'], ['sq']), node('Pow', ['x', 'three'], ['cube']), node('Pow', ['x', 'half'], ['root']), node('ReduceLogSumExp', ['x'], ['lse'], { axes: [1], keepdims: 0 })],
      inputs: [valueInfo('x', 'float', ['N', 4])],
      outputs: [valueInfo('sq', 'float', ['N', 4]), valueInfo('cube', 'float', ['N', 4]), valueInfo('root', 'float', ['N', 4]), valueInfo('lse', 'float', ['N'])],
      initializers: [floatTensor('two', [], [2]), floatTensor('three', [], [3]), floatTensor('half', [], [0.5])],
    });
    const names = ['sq', 'cube', 'root', 'lse'];
    const want = await ortRun(bytes, { x }, names);
    for (const [i, name] of names.entries()) {
      const got = Array.from(compileGraph(bytes, name).run({ x: { type: 'float', ...x } }).data as Float32Array);
      got.forEach((g, k) => {
        const w = want[i][k];
        const close = g === w || (Number.isNaN(g) && Number.isNaN(w)) || Math.abs(g - w) <= 2.4e-7 * Math.abs(w);
        expect(close, `${name}[${k}]: ${g}, onnxruntime ${w}`).toBe(true);
      });
    }
  });

  it('Imputer and Scaler with one value for every column or one per column, on inputs whose width changes between runs', async () => {
    const nodes = [
      node('Imputer', ['x'], ['i'], { imputed_value_floats: { floats: [7.25] }, replaced_value_float: NaN }, 'ai.onnx.ml'),
      node('Scaler', ['i'], ['a'], { offset: { floats: [0.5] }, scale: { floats: [3] } }, 'ai.onnx.ml'),
      node('Imputer', ['z'], ['j'], { imputed_value_floats: { floats: [1, 2, 3] }, replaced_value_float: NaN }, 'ai.onnx.ml'),
      node('Scaler', ['j'], ['b'], { offset: { floats: [1, -2, 0.25] }, scale: { floats: [0.5, 4, -1] } }, 'ai.onnx.ml'),
      node('Concat', ['a', 'b'], ['y'], { axis: 1 }),
    ];
    const bytes = model({
      name: 'widths',
      nodes,
      inputs: [valueInfo('x', 'float', ['N', 'C']), valueInfo('z', 'float', ['N', 3])],
      outputs: [valueInfo('y', 'float', ['N', 'W'])],
      initializers: [],
    });
    const program = compileGraph(bytes, 'y');
    const z = { data: Float32Array.from([NaN, 1.5, -3, 4, NaN, 0.1]), dims: [2, 3] };
    for (const width of [2, 5, 1, 2]) {
      const x = { data: Float32Array.from({ length: 2 * width }, (_, k) => (k % 3 === 1 ? NaN : k * 1.3 - 2)), dims: [2, width] };
      const [want] = await ortRun(bytes, { x, z }, ['y']);
      const got = program.run({ x: { type: 'float', ...x }, z: { type: 'float', ...z } });
      expect(got.dims, `width ${width}`).toEqual([2, width + 3]);
      expect(Array.from(got.data as Float32Array), `width ${width}`).toEqual(want);
    }
    // A list that fits neither one value nor the columns is an error, as in onnxruntime.
    const bad = compileGraph(
      model({
        name: 'bad',
        nodes: [node('Scaler', ['x'], ['y'], { offset: { floats: [1, 2] }, scale: { floats: [1] } }, 'ai.onnx.ml')],
        inputs: [valueInfo('x', 'float', ['N', 'C'])],
        outputs: [valueInfo('y', 'float', ['N', 'C'])],
        initializers: [],
      }),
      'y',
    );
    expect(() => bad.run({ x: { type: 'float', dims: [1, 3], data: new Float32Array(3) } })).toThrow(/2 offsets for 3 columns/);
    expect(Array.from(bad.run({ x: { type: 'float', dims: [1, 2], data: Float32Array.from([5, 5]) } }).data as Float32Array)).toEqual([4, 3]);
  });
});
