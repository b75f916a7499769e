import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable, type Row } from '../inference/index.js';
import { createEncoder } from '../inference/encoder.js';
import { choleskySolve, fitLogisticRegression, predictProba } from './logreg.js';
import { generateHotelBookings } from './synthetic-hotel.js';
import { trainLogisticRegression } from './train-logreg.js';
import { rowPayload } from './dataset.js';
import { transformRow } from './preprocess.js';
import { seededRandom, normal } from './random.js';

describe('logistic regression', () => {
  it('solves a linear system exactly', () => {
    const A = [Float64Array.from([4, 2, 0]), Float64Array.from([2, 5, 1]), Float64Array.from([0, 1, 3])];
    const x = choleskySolve(A, Float64Array.from([2, 3, 4]));
    // Check A x = b directly.
    for (let i = 0; i < 3; i++) expect(A[i][0] * x[0] + A[i][1] * x[1] + A[i][2] * x[2]).toBeCloseTo([2, 3, 4][i], 12);
  });

  it('with an uninformative feature, the intercept is the logit of the base rate', () => {
    const y = Uint8Array.from({ length: 1000 }, (_, i) => (i % 10 < 3 ? 1 : 0));
    const X = Array.from({ length: 1000 }, () => Float64Array.from([0]));
    const m = fitLogisticRegression(X, y, { l2: 1 });
    expect(m.converged).toBe(true);
    expect(m.intercept).toBeCloseTo(Math.log(0.3 / 0.7), 9);
    expect(m.weights[0]).toBe(0);
  });

  it('recovers the coefficients of the model that generated the data and zeroes the gradient', () => {
    const rand = seededRandom(11);
    const truth = [1.5, -2, 0.5];
    const b0 = -0.3;
    const n = 20000;
    const X = Array.from({ length: n }, () => Float64Array.from(truth, () => normal(rand)));
    const y = Uint8Array.from(X, (x) => (rand() < 1 / (1 + Math.exp(-(b0 + x[0] * truth[0] + x[1] * truth[1] + x[2] * truth[2]))) ? 1 : 0));
    const l2 = 0.5;
    const m = fitLogisticRegression(X, y, { l2 });
    truth.forEach((t, j) => expect(Math.abs(m.weights[j] - t)).toBeLessThan(0.1));
    expect(Math.abs(m.intercept - b0)).toBeLessThan(0.1);
    // Optimality, computed here independently: X'(p - y) + l2 w = 0 and sum(p - y) = 0.
    const g = [0, 0, 0, 0];
    X.forEach((x, i) => {
      const r = predictProba(m, x) - y[i];
      x.forEach((v, j) => (g[j] += r * v));
      g[3] += r;
    });
    m.weights.forEach((w, j) => (g[j] += l2 * w));
    for (const v of g) expect(Math.abs(v)).toBeLessThan(1e-6);
    expect(m.iterations).toBeLessThan(15);
  });
});

describe('trainer on synthetic hotel bookings', () => {
  const data = generateHotelBookings(6000, 21);
  const result = trainLogisticRegression(data);

  it('grades its profit threshold on held-out rows that did not choose it', () => {
    // Worked here independently of threshold.ts: split the held-out rows into halves (every
    // other row of each class), choose on one half the cut that maximises 30 a caught
    // cancellation and -20 a false alarm (by trying every score), apply it to the other half.
    const { scores, data: test } = result.holdout;
    const labels = Array.from(test.label);
    const gain = (rows: number[], cut: number) => rows.reduce((p, i) => p + (scores[i] >= cut ? (labels[i] ? 30 : -20) : 0), 0);
    // Equal gains keep the higher cut: acting less for the same profit.
    const better = (rows: number[], cut: number, best: number) => gain(rows, cut) > gain(rows, best) || (gain(rows, cut) === gain(rows, best) && cut > best);
    const bestCut = (rows: number[]) => [Infinity, ...rows.map((i) => scores[i])].reduce((best, cut) => (better(rows, cut, best) ? cut : best), Infinity);
    const seen = [0, 0];
    const halves: number[][] = [[], []];
    labels.forEach((y, i) => halves[seen[y]++ % 2].push(i));
    const counts = { tp: 0, fp: 0, fn: 0, profit: 0 };
    for (const h of [0, 1]) {
      const cut = bestCut(halves[1 - h]);
      for (const i of halves[h]) {
        const act = scores[i] >= cut;
        if (act && labels[i]) counts.tp++;
        if (act && !labels[i]) counts.fp++;
        if (!act && labels[i]) counts.fn++;
      }
      counts.profit += gain(halves[h], cut);
    }
    expect(result.metrics.expected_profit_per_row).toBeCloseTo(counts.profit / scores.length, 12);
    expect(result.metrics.f1).toBeCloseTo((2 * counts.tp) / (2 * counts.tp + counts.fp + counts.fn), 12);
    expect(result.metrics.precision).toBeCloseTo(counts.tp / (counts.tp + counts.fp), 12);
    // The served threshold is chosen on all held-out rows: no cut earns more there, and what it
    // earns there flatters it against the cross-fitted figure.
    const all = labels.map((_, i) => i);
    const served = gain(all, result.threshold);
    expect(served).toBe(gain(all, bestCut(all)));
    expect(served / scores.length).toBeGreaterThan(result.metrics.expected_profit_per_row);
    expect(result.metrics.action_rate).toBeCloseTo(all.filter((i) => scores[i] >= result.threshold).length / scores.length, 12);
    expect(result.policy).toEqual({ type: 'threshold', threshold: result.threshold, above: 'act', below: 'none' });
    expect(result.run.params).toMatchObject({ threshold_objective: 'profit', threshold_metrics: 'cross_fitted' });
  });

  it('learns the planted signal', () => {
    expect(result.metrics.roc_auc).toBeGreaterThan(0.75);
    expect(result.run.converged).toBe(true);
    const deposit = result.preprocessor.categorical.find((c) => c.name === 'deposit_type')!;
    expect(deposit.categories).toEqual(['No Deposit', 'Non Refund', 'Refundable']);
    // Non-refundable deposits were planted as the strongest cancellation signal.
    const offset = result.preprocessor.numeric.length + result.preprocessor.categorical.slice(0, result.preprocessor.categorical.indexOf(deposit)).reduce((s, c) => s + c.categories.length, 0);
    expect(result.model.weights[offset + 1]).toBeGreaterThan(result.model.weights[offset] + 1.5);
  });

  it('the exported ONNX graph scores like the in-memory model, with one input per column', async () => {
    const graph = inspectGraph(result.onnx);
    expect(graph.inputs.map((i) => `${i.name}:${i.type}`)).toContain('deposit_type:string');
    expect(graph.inputs.every((i) => i.shape?.[1] === 1)).toBe(true);
    const { contract, output } = deriveContract(graph);
    expect(contract.features.find((f) => f.name === 'market_segment')?.categories).toContain('Online TA');
    const s = await Servable.load(
      result.onnx,
      { model: 'm', version: 1, contract, output, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' } },
      { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 } },
    );
    try {
      const test = result.holdout.data;
      const enc = createEncoder(contract);
      const rows: Row[] = Array.from({ length: test.rows }, (_, i) => enc.encode(rowPayload(test, i), 'payload').row);
      const scores = await s.scores(rows);
      let worst = 0;
      scores.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - result.holdout.scores[i]))));
      expect(worst).toBeLessThan(1e-5);
      // An unseen category encodes as all zeros, exactly as the in-memory transform does.
      const odd = { ...rowPayload(test, 0), market_segment: 'Space tourism' };
      const [got] = await s.scores([enc.encode(odd, 'payload').row]);
      const copy = {
        ...test,
        categorical: { ...test.categorical, market_segment: ['Space tourism'] },
        numeric: Object.fromEntries(Object.entries(test.numeric).map(([k, c]) => [k, c.slice(0, 1)])),
        rows: 1,
      };
      expect(Math.abs(got - predictProba(result.model, transformRow(result.preprocessor, copy, 0)))).toBeLessThan(1e-5);
    } finally {
      await s.release();
    }
  });
});
