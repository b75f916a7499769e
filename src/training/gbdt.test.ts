import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable, DEFAULT_POLICY } from '../inference/index.js';
import { rocAuc } from '../monitoring/index.js';
import { rowPayload, splitEvery } from './dataset.js';
import { encodeRow, fitGbdt } from './gbdt.js';
import { generateHotelBookings } from './synthetic-hotel.js';
import { exportTrees, predictTrees } from './trees.js';

describe('gradient-boosted trees', () => {
  const { train, test } = splitEvery(generateHotelBookings(6000, 11), 4);
  const m = fitGbdt(train, { rounds: 60 });
  const ensemble = { features: m.encoding.numeric, categorical: m.encoding.categorical, base: m.base, trees: m.trees };
  const inMemory = Array.from({ length: test.rows }, (_, i) => predictTrees(ensemble, encodeRow(m.encoding, test, i)));

  it('learns the signal: holdout AUC well above chance, and above a single-feature ranking', () => {
    const auc = rocAuc(inMemory, test.label);
    expect(auc).toBeGreaterThan(0.75);
    expect(auc).toBeGreaterThan(rocAuc(Array.from(test.numeric.lead_time, (v) => (Number.isNaN(v) ? 0 : v)), test.label) + 0.03);
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

  it('respects the tree shape limits', () => {
    const small = fitGbdt(train, { rounds: 5, maxLeaves: 4, validationFraction: 0 });
    for (const t of small.trees) expect(t.filter((n) => n.leaf).length).toBeLessThanOrEqual(4);
    const shallow = fitGbdt(train, { rounds: 3, maxDepth: 2, maxLeaves: 64, validationFraction: 0 });
    const depth = (t: typeof shallow.trees[number], i = 0): number => (t[i].leaf ? 0 : 1 + Math.max(depth(t, (t[i] as { left: number }).left), depth(t, (t[i] as { right: number }).right)));
    for (const t of shallow.trees) expect(depth(t)).toBeLessThanOrEqual(2);
    expect(small.rounds).toBe(5);
  });
});
