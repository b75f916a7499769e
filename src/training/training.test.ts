import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable, type Row } from '../inference/index.js';
import { createEncoder } from '../inference/encoder.js';
import { choleskySolve, fitLogisticRegression, predictProba } from './logreg.js';
import { bestThreshold } from './evaluate.js';
import { generateHotelBookings } from './synthetic-hotel.js';
import { trainLogisticRegression } from './train-logreg.js';
import { rowPayload } from './dataset.js';
import { transformRow } from './preprocess.js';
import { seededRandom, normal } from './random.js';

describe('decision policy', () => {
  it('picks the profit-maximising threshold', () => {
    // Acting on the two positives (0.9, 0.7) earns 2*10; acting lower also catches a negative at 0.6 (-15).
    const r = bestThreshold([0.9, 0.7, 0.6, 0.2], [1, 1, 0, 0], { truePositive: 10, falsePositive: -15 });
    expect(r.profit).toBe(20);
    expect(r.threshold).toBeGreaterThan(0.6);
    expect(r.threshold).toBeLessThanOrEqual(0.7);
  });
});

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
