import { readFileSync } from 'node:fs';
import path from 'node:path';
import { onnx } from '../lib/onnx-proto.js';
import type onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../test/helpers/fixtures.js';
import { MicroBatcher, RunGate } from './batcher.js';
import { exposeZipMapSource, graphNames, inputShapes, inspectGraph } from './onnx-graph.js';
import { floatTensor, model, node, valueInfo } from '../training/onnx-builder.js';
import { checkPolicy, compilePolicy, decisionsDiffer, defaultPolicy, parsePolicyFlag, policyDecisions, policyFlag, type Policy } from './policy.js';

describe('ZipMap rewrite', () => {
  it('onnxruntime cannot return the ZipMap; the rewritten graph exposes the probability tensor', async () => {
    const bytes = readFileSync(path.join(FIXTURES, 'telco_numeric.onnx'));
    const graph = inspectGraph(bytes);
    const zip = graph.outputs.find((o) => o.kind === 'zipmap')!;
    expect(zip).toMatchObject({ name: 'output_probability', zipmapSource: 'probabilities', classLabels: [0, 1] });
    const feeds = { float_input: new ort.Tensor('float32', Float32Array.from([0, 12, 70, 840]), [1, 4]) };
    const original = await ort.InferenceSession.create(bytes);
    await expect(original.run(feeds)).rejects.toThrow(/Non tensor type/);
    const { bytes: rewritten, output } = exposeZipMapSource(bytes, 'output_probability');
    const s = await ort.InferenceSession.create(rewritten);
    const out = (await s.run(feeds))[output];
    expect(out.dims).toEqual([1, 2]);
    const [p0, p1] = out.data as Float32Array;
    expect(p0 + p1).toBeCloseTo(1, 6);
  });

  it('the rewrite drops only the ZipMap node and replaces only its graph output; everything else is as exported', () => {
    for (const name of ['telco_churn', 'telco_forest', 'bank_geography']) {
      const bytes = readFileSync(path.join(FIXTURES, `${name}.onnx`));
      const before = onnx().ModelProto.decode(bytes);
      const { bytes: rewritten, output } = exposeZipMapSource(bytes, 'output_probability');
      const after = onnx().ModelProto.decode(rewritten);
      const [g0, g1] = [before.graph!, after.graph!];
      const zipmap = g0.node!.find((n) => n.opType === 'ZipMap')!;
      expect(output).toBe(zipmap.input![0]);
      // Compared as encoded bytes: a 60-tree forest's attributes took 10 s to compare as objects or JSON.
      const sameBytes = (a: Uint8Array[], b: Uint8Array[]) => a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]) === 0);
      const encoded = (n: onnxProto.onnx.INodeProto) => onnx().NodeProto.encode(n).finish();
      expect(sameBytes(g1.node!.map(encoded), g0.node!.filter((n) => n !== zipmap).map(encoded))).toBe(true);
      expect(g1.node!.length).toBe(g0.node!.length - 1);
      expect(g1.output!.map((o) => o.name)).toEqual(g0.output!.map((o) => (o.name === 'output_probability' ? output : o.name)));
      const exposed = g1.output!.find((o) => o.name === output)!;
      expect(exposed.type?.tensorType?.elemType).toBe(1);
      expect(exposed.type?.tensorType?.shape?.dim?.length).toBe(2);
      for (const field of ['irVersion', 'producerName', 'opsetImport'] as const) expect(JSON.stringify(after[field])).toBe(JSON.stringify(before[field]));
      const inputs = (g: onnxProto.onnx.IGraphProto) => g.input!.map((v) => onnx().ValueInfoProto.encode(v).finish());
      const initializers = (g: onnxProto.onnx.IGraphProto) => (g.initializer ?? []).map((t) => onnx().TensorProto.encode(t).finish());
      expect(sameBytes(inputs(g1), inputs(g0))).toBe(true);
      expect(sameBytes(initializers(g1), initializers(g0))).toBe(true);
      expect(g1.name).toBe(g0.name);
    }
    expect(() => exposeZipMapSource(readFileSync(path.join(FIXTURES, 'telco_churn.onnx')), 'output_label')).toThrow(/output_label is not produced by a ZipMap node/);
  });
});

describe('graph facts read from the wire', () => {
  it('names and input shapes are what the decoded graph holds, for every fixture', () => {
    const files = ['telco_churn', 'telco_gbdt', 'telco_forest', 'telco_xgb', 'bank_geography', 'telco_charges', 'telco_strict', 'bank_int_matrix'];
    for (const name of files) {
      const bytes = readFileSync(path.join(FIXTURES, `${name}.onnx`));
      const g = onnx().ModelProto.decode(bytes).graph!;
      const names = new Set<string>();
      for (const n of g.node!) {
        if (n.name) names.add(n.name);
        for (const x of [...n.input!, ...n.output!]) names.add(x);
      }
      for (const x of [...g.input!, ...g.output!, ...g.valueInfo!, ...g.initializer!]) if (x.name) names.add(x.name);
      expect(graphNames(bytes), name).toEqual(names);
      const shapes = new Map(g.input!.map((i) => [i.name!, i.type!.tensorType!.shape!.dim!.map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null))]));
      expect(inputShapes(bytes), name).toEqual(shapes);
    }
    // An initializer no node reads still takes its name (exports leave such ones behind).
    const orphan = model({
      name: 'g',
      nodes: [node('Identity', ['x'], ['y'])],
      inputs: [valueInfo('x', 'float', ['N', 1])],
      outputs: [valueInfo('y', 'float', ['N', 1])],
      initializers: [floatTensor('unused_weights', [1], [1])],
    });
    expect(graphNames(orphan)).toEqual(new Set(['x', 'y', 'unused_weights']));
  });
});

describe('micro-batcher', () => {
  it('coalesces concurrent requests into one run and returns each its own result', async () => {
    const runs: number[][] = [];
    const b = new MicroBatcher<number, number>(
      async (rows) => {
        runs.push(rows);
        return rows.map((r) => r * 2);
      },
      { maxRows: 8, maxWaitUs: 0 },
    );
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(i)));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(runs.map((r) => r.length)).toEqual([8, 8, 4]);
  });

  it('with a run in flight and room for another, a batch waits for company until maxWaitUs has passed on the clock, then takes the second run', async () => {
    const runs: number[][] = [];
    const held: (() => void)[] = [];
    let now = 0n;
    const b = new MicroBatcher<number, number>(
      async (rows) => {
        runs.push(rows);
        await new Promise<void>((r) => held.push(r));
        return rows;
      },
      { maxRows: 100, maxWaitUs: 1000, maxConcurrentRuns: 2, now: () => now },
    );
    const turn = () => new Promise((r) => setImmediate(r));
    const first = b.submit(1);
    await turn();
    expect(runs).toEqual([[1]]);
    const second = [b.submit(2), b.submit(3)];
    // Many turns pass, but not the window on the batcher's clock: 2 and 3 keep waiting for company.
    for (let i = 0; i < 20; i++) await turn();
    expect(runs).toEqual([[1]]);
    now += 999_999n;
    await turn();
    await turn();
    expect(runs).toEqual([[1]]);
    now += 1n; // 1000 µs since 2 arrived
    await turn();
    await turn();
    expect(runs).toEqual([[1], [2, 3]]);
    held.forEach((r) => r());
    expect(await Promise.all([first, ...second])).toEqual([1, 2, 3]);
  });

  it('runs a lone request at once, batches what arrives while a run is in flight, and a failed run rejects only its own requests', async () => {
    const runs: number[][] = [];
    let finish: (() => void) | undefined;
    const b = new MicroBatcher<number, number>(
      async (rows) => {
        runs.push(rows);
        if (rows.includes(-1)) throw new Error('boom');
        // The first run is held open until the test lets it finish: arrivals meanwhile must queue.
        if (rows.includes(1)) await new Promise<void>((r) => (finish = r));
        return rows;
      },
      // A window no test waits out: it must not delay a lone request (continuous batching).
      { maxRows: 100, maxWaitUs: 60_000_000 },
    );
    const first = b.submit(1);
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([[1]]); // started on the next turn, without waiting for the window
    const queued = [b.submit(2), b.submit(3)];
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([[1]]); // one run at a time: 2 and 3 wait for it
    finish!();
    expect(await Promise.all([first, ...queued])).toEqual([1, 2, 3]);
    expect(runs).toEqual([[1], [2, 3]]); // the next batch is what arrived meanwhile
    const bad = b.submit(-1);
    await expect(bad).rejects.toThrow('boom');
    expect(await b.submit(3)).toBe(3);
    // A poison row sharing a run with good rows fails alone; its batch-mates are answered.
    const mixed = await Promise.allSettled([b.submit(4), b.submit(-1), b.submit(5)]);
    expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(mixed.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([4, 5]);
  });

  /**
   * Requests keep arriving for two versions while runs are in flight: 5 rounds, a turn apart,
   * of 4 rows each for a and b (or, for comparison, all 8 for one version alone). Each run ends
   * a few turns after it starts, as an onnxruntime run deferred by setImmediate does.
   */
  async function contended(versions: 'two' | 'one') {
    const gate = new RunGate();
    let inFlight = 0;
    let maxInFlight = 0;
    const runs: string[] = [];
    const batcher = (name: string) =>
      new MicroBatcher<number, string>(
        async (rows) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          runs.push(`${name}${rows.length}`);
          for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
          inFlight--;
          return rows.map((r) => `${name}${r}`);
        },
        { maxRows: 100, maxWaitUs: 0, gate },
      );
    const a = batcher('a');
    const b = versions === 'two' ? batcher('b') : a;
    const replies: Promise<string>[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 4; i++) replies.push(a.submit(round * 4 + i), b.submit(round * 4 + i));
      await new Promise((r) => setImmediate(r));
    }
    return { got: await Promise.all(replies), runs, maxInFlight };
  }

  it('batchers sharing a gate never run at once, take turns, and make no more runs than one version would', async () => {
    const { got, runs, maxInFlight } = await contended('two');
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => [`a${i}`, `b${i}`]).flat());
    expect(maxInFlight).toBe(1);
    // Turns alternate, and each run carries what arrived while the other ran.
    expect(runs.map((r) => r[0]).join('')).toMatch(/^(ab)+a?$/);
    const rows = (name: string) => runs.filter((r) => r[0] === name).map((r) => Number(r.slice(1)));
    expect(rows('a').reduce((x, y) => x + y, 0)).toBe(20);
    expect(rows('b').reduce((x, y) => x + y, 0)).toBe(20);
    // The gate passes on the turn after a run ends, so the waiting version's run also takes
    // that turn's arrivals: splitting the traffic costs no extra runs (passing it at once: 4).
    const alone = await contended('one');
    expect(alone.runs.map((r) => r[0]).join('')).toMatch(/^a+$/);
    expect(runs.length).toBeLessThanOrEqual(alone.runs.length);
  });

  describe('what each request waited for its own version (RunTiming), on an injected clock', () => {
    const turn = () => new Promise((r) => setImmediate(r));
    /** Batchers sharing a gate on a clock `t` that only their runs (and the test) move. */
    const clocked = () => {
      const c = { t: 0 };
      const nowMs = () => c.t;
      const gate = new RunGate(nowMs);
      /** A run that costs `cost` ms; with `turns`, ending that many turns after it starts, as onnxruntime's deferred runs (half the cost at each end). */
      const batcher = (cost: number, turns = 0) =>
        new MicroBatcher<number, number>(
          async (rows) => {
            c.t += turns ? cost / 2 : cost;
            for (let i = 0; i < turns; i++) await turn();
            if (turns) c.t += cost / 2;
            return rows;
          },
          { maxRows: 100, maxWaitUs: 0, gate, nowMs },
        );
      return { c, batcher };
    };

    it('the smaller arm is not charged for the larger arm’s run and replies in the same turn', async () => {
      const { c, batcher } = clocked();
      // Synchronous runs, as the compiled engine's: a costs 10 ms a run, b 1 ms.
      const a = batcher(10);
      const b = batcher(1);
      const timings = Array.from({ length: 10 }, () => ({ ms: -1 }));
      // Nine requests for a, then one for b, read in the same turn; each of a's replies then takes
      // 5 ms of the event loop before b's tick comes round.
      const replies = [
        ...timings.slice(0, 9).map((timing, i) =>
          a.submit(i, timing).then((v) => {
            c.t += 5;
            return v;
          }),
        ),
        b.submit(9, timings[9]),
      ];
      expect(await Promise.all(replies)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(c.t).toBe(10 + 9 * 5 + 1); // b's run ended 56 ms after the requests came in
      expect(timings.map((x) => x.ms)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 1]);
    });

    it('a wait at the gate behind another version is left out; a wait for its own version’s run is counted', async () => {
      const { c, batcher } = clocked();
      // Runs that end three turns after they start.
      const a = batcher(10, 3);
      const b = batcher(2, 3);
      const first = { ms: -1 };
      const behindA = { ms: -1 };
      const behindOwn = { ms: -1 };
      const replies = [a.submit(1, first), b.submit(2, behindA)];
      await turn(); // a's run has started (t = 5), b waits at the gate
      await turn();
      expect(c.t).toBe(5);
      replies.push(a.submit(3, behindOwn)); // arrives while a's own run is in flight
      await Promise.all(replies);
      expect(first.ms).toBe(10);
      // b waited 10 ms for a's run, then ran for 2 ms: only its own run counts.
      expect(behindA.ms).toBe(2);
      // The second request for a came at t = 5 and waited for a's first run to end (t = 10), then
      // behind b's run at the gate (2 ms, left out), then its own run (10 ms): 5 + 10.
      expect(behindOwn.ms).toBe(15);
    });

    it('without a gate (one version alone) the time runs from submit to the end of the run', async () => {
      let t = 0;
      const b = new MicroBatcher<number, number>(
        (rows) => {
          t += 3;
          return Promise.resolve(rows);
        },
        { maxRows: 100, maxWaitUs: 0, nowMs: () => t },
      );
      const timing = { ms: -1 };
      const reply = b.submit(1, timing);
      t += 4; // the rest of the turn's work before the batcher's tick
      await reply;
      expect(timing.ms).toBe(7);
    });
  });
});

describe('class labels in the graph', () => {
  it('a class label that is not valid UTF-8 is refused at inspection, naming the node', () => {
    const n = node(
      'LinearClassifier',
      ['x'],
      ['label', 'probabilities'],
      { coefficients: { floats: [1, -1, 0.5] }, intercepts: { floats: [0, 0, 0] }, classlabels_strings: ['a', 'b', 'c'], post_transform: 'SOFTMAX' },
      'ai.onnx.ml',
    );
    const labels = n.attribute.find((a) => a.name === 'classlabels_strings')!;
    labels.strings = [Uint8Array.from([0x61]), Uint8Array.from([0xff, 0xfe, 0x41]), Uint8Array.from([0x63])];
    const bytes = model({
      name: 'bad-labels',
      nodes: [n],
      inputs: [valueInfo('x', 'float', ['N', 1])],
      outputs: [valueInfo('label', 'string', ['N']), valueInfo('probabilities', 'float', ['N', 3])],
      initializers: [],
    });
    expect(() => inspectGraph(bytes)).toThrow(/LinearClassifier label: a class label is not valid UTF-8 \(bytes fffe41\); re-export the model with text labels/);
  });
});

describe('policies', () => {
  it('policyFlag gives the --policy text that parses back to the same policy; policyDecisions lists what it decides', () => {
    const policies: Policy[] = [
      { type: 'threshold', threshold: 0.4, above: 'block', below: 'allow' },
      {
        type: 'bands',
        bands: [
          { decision: 'low', below: 5000 },
          { decision: 'mid', below: 20000.5 },
          { decision: 'high', below: null },
        ],
      },
      { type: 'value', decision: 'value' },
      { type: 'value', decision: 'price' },
    ];
    for (const p of policies) expect(parsePolicyFlag(policyFlag(p)!)).toEqual(p);
    expect(policies.map((p) => policyDecisions(p))).toEqual([['allow', 'block'], ['low', 'mid', 'high'], ['value'], ['price']]);
    expect(policyFlag({ type: 'label' })).toBeUndefined();
    // A class policy's decisions come from the classes.
    const classes = ['France', 'Germany', 'Spain'];
    expect(policyDecisions({ type: 'label' })).toBeUndefined();
    expect(policyDecisions({ type: 'label' }, classes)).toEqual(classes);
    expect(policyDecisions({ type: 'min_probability', min: 0.6, fallback: 'review' }, classes)).toEqual([...classes, 'review']);
    expect(policyDecisions({ type: 'class_map', decisions: { France: 'retain', Spain: 'retain' }, default: 'none' }, classes)).toEqual(['retain', 'none']);
    expect(policyDecisions({ type: 'class_map', decisions: { France: 'retain' } }, classes)).toEqual(['retain', 'Germany', 'Spain']);
    expect(decisionsDiffer({ type: 'label' }, { type: 'label' }, ['France', 'Germany', 'Italy'], classes)).toEqual({
      mine: ['France', 'Germany', 'Italy'],
      theirs: classes,
      added: ['Italy'],
      missing: ['Spain'],
    });
    expect(decisionsDiffer({ type: 'label' }, { type: 'label' }, [...classes].reverse(), classes)).toBeUndefined();
  });

  it('threshold and bands, from the CLI form', () => {
    const score = (f: (o: { score: number }) => string) => (x: number) => f({ score: x });
    const t = score(compilePolicy(parsePolicyFlag('threshold=0.4')));
    expect([t(0.39), t(0.4), t(0.9)]).toEqual(['none', 'act', 'act']);
    const bands = score(compilePolicy(parsePolicyFlag('bands=allow:0.3,review:0.7,block')));
    expect([bands(0), bands(0.3), bands(0.69), bands(0.7), bands(1)]).toEqual(['allow', 'review', 'review', 'block', 'block']);
    expect(() => parsePolicyFlag('bands=allow:0.7,review:0.3,block')).toThrow(/increase/);
    expect(() => checkPolicy(parsePolicyFlag('threshold=2'), 'binary')).toThrow(/between 0 and 1/);
    expect(() => parsePolicyFlag('magic=1')).toThrow(/unknown policy kind/);
  });

  it('regression: bands and thresholds on the value, or the value itself', () => {
    const price = parsePolicyFlag('bands=low:5000,mid:20000,high');
    checkPolicy(price, 'regression');
    const band = compilePolicy(price);
    expect([4999.99, 5000, 19999, 20000, 1e9].map((v) => band({ score: v }))).toEqual(['low', 'mid', 'mid', 'high', 'high']);
    expect(() => checkPolicy(price, 'binary')).toThrow(/between 0 and 1/);
    expect(compilePolicy(defaultPolicy('regression'))({ score: 21500 })).toBe('value');
    expect(() => checkPolicy(parsePolicyFlag('label'), 'regression')).toThrow(/regression model takes a threshold, bands, value policy/);
  });

  it('multiclass: the label, a minimum probability with a fallback, or a class map', () => {
    const classes = ['France', 'Germany', 'Spain'];
    const o = (label: string, score: number) => ({ label, score, probabilities: [] });
    expect(compilePolicy(defaultPolicy('multiclass'))(o('Spain', 0.4))).toBe('Spain');
    const min = parsePolicyFlag('min_probability=Germany:0.7,*:0.6:hold');
    expect(min).toEqual({ type: 'min_probability', min: 0.6, per_class: { Germany: 0.7 }, fallback: 'hold' });
    checkPolicy(min, 'multiclass', classes);
    const m = compilePolicy(min);
    expect([m(o('France', 0.6)), m(o('France', 0.59)), m(o('Germany', 0.69)), m(o('Germany', 0.7))]).toEqual(['France', 'hold', 'hold', 'Germany']);
    expect(parsePolicyFlag('min_probability=0.6')).toEqual({ type: 'min_probability', min: 0.6, fallback: 'review' });
    const map = parsePolicyFlag('class_map=France:retain,*:review');
    checkPolicy(map, 'multiclass', classes);
    expect([compilePolicy(map)(o('France', 0.9)), compilePolicy(map)(o('Spain', 0.9))]).toEqual(['retain', 'review']);
    expect(() => checkPolicy(parsePolicyFlag('class_map=France:retain'), 'multiclass', classes)).toThrow(/"Germany", "Spain" have no decision/);
    expect(() => checkPolicy(parsePolicyFlag('class_map=Italy:retain,*:none'), 'multiclass', classes)).toThrow(/unknown class "Italy"/);
    expect(() => checkPolicy(parsePolicyFlag('threshold=0.5'), 'multiclass', classes)).toThrow(/multiclass model takes a label, min_probability, class_map policy/);
    expect(() => parsePolicyFlag('min_probability=Germany:0.7')).toThrow(/minimum for the other classes/);
  });
});
