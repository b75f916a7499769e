import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable, DEFAULT_POLICY } from '../inference/index.js';
import { rocAuc } from '../monitoring/index.js';
import { rowPayload, splitEvery } from './dataset.js';
import { encodeRow, fitGbdt } from './gbdt.js';
import { generateHotelBookings } from './synthetic-hotel.js';
import { exportTrees, predictClassProbabilities, predictTrees } from './trees.js';

describe('gradient-boosted trees', () => {
  const { train, test } = splitEvery(generateHotelBookings(6000, 11), 4);
  const m = fitGbdt(train, { rounds: 60 });
  const ensemble = { features: m.encoding.numeric, categorical: m.encoding.categorical, base: m.base, trees: m.trees };
  const inMemory = Array.from({ length: test.rows }, (_, i) => predictTrees(ensemble, encodeRow(m.encoding, test, i)));

  it('learns the signal: holdout AUC well above chance, and above a single-feature ranking', () => {
    const auc = rocAuc(inMemory, test.label);
    expect(auc).toBeGreaterThan(0.75);
    expect(auc).toBeGreaterThan(
      rocAuc(
        Array.from(test.numeric.lead_time, (v) => (Number.isNaN(v) ? 0 : v)),
        test.label,
      ) + 0.03,
    );
  });

  it('the exported graph (categoricals one-hot encoded inside it, raw columns in) serves the same scores within 1e-5', async () => {
    const onnx = exportTrees(ensemble);
    const { contract, output } = deriveContract(inspectGraph(onnx));
    expect(contract.features.map((f) => f.name).sort()).toEqual([...Object.keys(test.numeric), ...Object.keys(test.categorical)].sort());
    const s = await Servable.load(onnx, { model: 'g', version: 1, contract, output, policy: DEFAULT_POLICY }, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 } });
    try {
      const rows = Array.from({ length: test.rows }, (_, i) => s.encoder.encode(rowPayload(test, i), 'p').row);
      const served = await s.scores(rows);
      // adr is missing in some rows: the learned default direction must be the graph's too.
      expect(Array.from(test.numeric.adr).some(Number.isNaN)).toBe(true);
      served.forEach((v, i) => expect(Math.abs(v - inMemory[i])).toBeLessThan(1e-5));
      // A category the model never saw scores like one outside its kept categories (all one-hot columns 0).
      const unseen = s.encoder.encode({ ...rowPayload(test, 0), market_segment: 'Space Tourism' }, 'p').row;
      const [score] = await s.scores([unseen]);
      const enc = encodeRow(m.encoding, { ...test, categorical: { ...test.categorical, market_segment: test.categorical.market_segment.map(() => 'Space Tourism') } }, 0);
      expect(Math.abs(score - predictTrees(ensemble, enc))).toBeLessThan(1e-5);
    } finally {
      await s.release();
    }
  });

  it('early stopping keeps the best round on the validation slice', () => {
    const fast = fitGbdt(train, { rounds: 400, learningRate: 0.5, patience: 5 });
    expect(fast.rounds).toBeLessThan(400);
    expect(fast.trees).toHaveLength(fast.rounds);
    const bestLoss = Math.min(...fast.validationLoss);
    expect(fast.validationLoss[fast.rounds - 1]).toBe(bestLoss);
    expect(fast.validationLoss.length).toBe(fast.rounds + 5);
  });

  it('with a time order, stops on the latest rows: each recorded validation loss is the log loss of the latest tenth under that many rounds', () => {
    // A time for each training row, not in row order; the latest tenth (by time) is 10 % of the rows.
    const time = Float64Array.from({ length: train.rows }, (_, i) => (i * 7919) % train.rows);
    const latest = Array.from({ length: train.rows }, (_, i) => i).filter((i) => time[i] >= train.rows * 0.9);
    const lossOn = (rows: number[], model: typeof m, rounds: number) =>
      rows.reduce((sum, i) => {
        const p = predictTrees(
          { features: model.encoding.numeric, categorical: model.encoding.categorical, base: model.base, trees: model.trees.slice(0, rounds) },
          encodeRow(model.encoding, train, i),
        );
        return sum - (train.label[i] ? Math.log(p) : Math.log(1 - p));
      }, 0) / rows.length;
    const timed = fitGbdt(train, { rounds: 12 }, undefined, undefined, time);
    expect(timed.validationSlice).toBe('latest');
    expect(latest.length).toBe(Math.round(train.rows * 0.1));
    for (const r of [1, 6, 12]) expect(timed.validationLoss[r - 1]).toBeCloseTo(lossOn(latest, timed, r), 9);
    // Without the order the slice is a random draw, whose losses are not those of the latest rows.
    const drawn = fitGbdt(train, { rounds: 12 });
    expect(drawn.validationSlice).toBe('random');
    expect(drawn.rounds).toBe(12);
    expect(Math.abs(drawn.validationLoss[11] - lossOn(latest, drawn, 12))).toBeGreaterThan(1e-3);
    // One time for every row: nothing is later than anything, so the slice is drawn at random.
    expect(fitGbdt(train, { rounds: 2 }, undefined, undefined, new Float64Array(train.rows)).validationSlice).toBe('random');
    // Most rows on the last day: slicing at that day would hold out half the rows, so the slice is drawn.
    const lastDayHeavy = Float64Array.from({ length: train.rows }, (_, i) => (i % 2 ? train.rows : i));
    expect(fitGbdt(train, { rounds: 2 }, undefined, undefined, lastDayHeavy).validationSlice).toBe('random');
    // A cut inside a day of a few rows takes the whole day: a little over the tenth, still the latest.
    const days = Float64Array.from({ length: train.rows }, (_, i) => Math.floor(time[i] / 7));
    expect(fitGbdt(train, { rounds: 2 }, undefined, undefined, days).validationSlice).toBe('latest');
  });

  it("reports each round's training loss with that round's trees, as scoring the rows with the first r trees gives", () => {
    const reported: number[] = [];
    const few = fitGbdt(train, { rounds: 4, validationFraction: 0 }, (r) => reported.push(r.trainLoss));
    expect(reported).toHaveLength(4);
    const logLoss = (trees: typeof few.trees) => {
      let sum = 0;
      for (let i = 0; i < train.rows; i++) {
        const p = predictTrees({ features: few.encoding.numeric, categorical: few.encoding.categorical, base: few.base, trees }, encodeRow(few.encoding, train, i));
        sum -= train.label[i] ? Math.log(p) : Math.log(1 - p);
      }
      return sum / train.rows;
    };
    reported.forEach((loss, r) => expect(Math.abs(loss - logLoss(few.trees.slice(0, r + 1)))).toBeLessThan(1e-9));
    // Round 1 already gained on the prior's log loss (what the first tree's progress line used to show).
    expect(reported[0]).toBeLessThan(logLoss([]) - 0.01);
  });

  it('respects the tree shape limits', () => {
    const small = fitGbdt(train, { rounds: 5, maxLeaves: 4, validationFraction: 0 });
    for (const t of small.trees) expect(t.filter((n) => n.leaf).length).toBeLessThanOrEqual(4);
    const shallow = fitGbdt(train, { rounds: 3, maxDepth: 2, maxLeaves: 64, validationFraction: 0 });
    const depth = (t: (typeof shallow.trees)[number], i = 0): number => (t[i].leaf ? 0 : 1 + Math.max(depth(t, (t[i] as { left: number }).left), depth(t, (t[i] as { right: number }).right)));
    for (const t of shallow.trees) expect(depth(t)).toBeLessThanOrEqual(2);
    expect(small.rounds).toBe(5);
  });
});

describe('gradient boosting for regression and multiclass', () => {
  /** y = 10·x0 − 5·x1 + noise, with 3 % of the targets replaced by gross outliers (+1000). */
  function data(rows: number, seed: number) {
    let s = seed;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const x0 = new Float64Array(rows);
    const x1 = new Float64Array(rows);
    const clean = new Float64Array(rows);
    const y = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      x0[i] = rand();
      x1[i] = rand();
      clean[i] = 10 * x0[i] - 5 * x1[i] + (rand() - 0.5);
      y[i] = rand() < 0.03 ? clean[i] + 1000 : clean[i];
    }
    return { d: { numeric: { x0, x1 }, categorical: {}, label: new Uint8Array(rows), rows, task: 'regression' as const, target: y }, clean };
  }
  const mae = (m: ReturnType<typeof fitGbdt>, d: ReturnType<typeof data>['d'], truth: Float64Array) => {
    let s = 0;
    for (let i = 0; i < d.rows; i++) {
      let z = m.base;
      const x = encodeRow(m.encoding, d, i);
      for (const t of m.trees) {
        let k = 0;
        while (!t[k].leaf) {
          const n = t[k] as { feature: number; threshold: number; left: number; right: number };
          k = Math.fround(x[n.feature]) <= Math.fround(n.threshold) ? n.left : n.right;
        }
        z += (t[k] as { value: number }).value;
      }
      s += Math.abs(z - truth[i]);
    }
    return s / d.rows;
  };

  it('absolute error and Huber shrug off gross outliers that pull squared error away from the clean signal', () => {
    const train = data(3000, 1);
    const test = data(1000, 2);
    const fit = (loss: 'squared_error' | 'absolute_error' | 'huber') => fitGbdt(train.d, { rounds: 100, loss, validationFraction: 0 }, undefined, { kind: 'regression', y: train.d.target });
    const squared = mae(fit('squared_error'), test.d, test.clean);
    const absolute = mae(fit('absolute_error'), test.d, test.clean);
    const huber = mae(fit('huber'), test.d, test.clean);
    expect(absolute).toBeLessThan(squared * 0.5);
    expect(huber).toBeLessThan(squared * 0.5);
    // The robust fits land near the noise floor (uniform noise of width 1: mean |noise| 0.25).
    expect(absolute).toBeLessThan(1);
  });

  it('softmax boosting: one tree per class per round, probabilities that sum to 1, better than the class prior', () => {
    const rows = 3000;
    let s = 3;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const x0 = Float64Array.from({ length: rows }, () => rand());
    const y = Uint16Array.from(x0, (v) => (v < 0.33 ? 0 : v < 0.66 ? 1 : 2));
    const m = fitGbdt({ numeric: { x0 }, categorical: {}, label: new Uint8Array(rows), rows }, { rounds: 20, validationFraction: 0 }, undefined, { kind: 'multiclass', y, classes: 3 });
    expect(m.classes).toBe(3);
    expect(m.trees).toHaveLength(60);
    expect(m.bases!.map((b) => Math.exp(b)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    const ens = { features: m.encoding.numeric, base: m.base, trees: m.trees, task: 'multiclass' as const, classes: ['a', 'b', 'c'], bases: m.bases };
    let right = 0;
    for (let i = 0; i < rows; i++) {
      const p = predictClassProbabilities(ens, [x0[i]]);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      if (p.indexOf(Math.max(...p)) === y[i]) right++;
    }
    // The classes are three ranges of x0: boosting finds the cuts (the prior alone gets about a third).
    expect(right / rows).toBeGreaterThan(0.97);
  });
});
