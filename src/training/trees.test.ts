import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable, DEFAULT_POLICY } from '../inference/index.js';
import { seededRandom } from './random.js';
import { exportTrees, predictTrees, syntheticEnsemble, type TreeNode } from './trees.js';

describe.each(['auto', 'onnxruntime'] as const)('tree ensembles (engine %s)', (engine) => {
  it('serve exactly what the in-memory model predicts, missing values included (compiled, or onnxruntime through input packing)', async () => {
    const m = syntheticEnsemble(['f0', 'f1', 'f2', 'f3', 'f4', 'f5'], 40, 4);
    const onnx = exportTrees(m);
    const { contract, output } = deriveContract(inspectGraph(onnx));
    expect(contract.features.map((f) => [f.name, f.type])).toEqual(m.features.map((f) => [f, 'float']));
    const s = await Servable.load(onnx, { model: 't', version: 1, contract, output, policy: DEFAULT_POLICY }, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine });
    try {
      expect(s.engineName).toBe(engine === 'auto' ? 'compiled' : 'onnxruntime');
      expect(s.packed).toBe(engine === 'onnxruntime');
      const rand = seededRandom(9);
      const xs = Array.from({ length: 500 }, (_, i) => m.features.map((_f, j) => ((i + j) % 7 === 0 ? NaN : Math.round(rand() * 1000) / 10)));
      const rows = xs.map((x) => s.encoder.encode(Object.fromEntries(m.features.map((f, j) => [f, Number.isNaN(x[j]) ? null : x[j]])), 'p').row);
      const served = await s.scores(rows);
      served.forEach((v, i) => expect(Math.abs(v - predictTrees(m, xs[i]))).toBeLessThan(1e-5));
      // Values exactly on a threshold go left (x ≤ t), as in the trainer.
      const t = m.trees[0][0] as Extract<TreeNode, { leaf: false }>;
      const onEdge = m.features.map((_f, j) => (j === t.feature ? t.threshold : 0));
      const [edge] = await s.scores([s.encoder.encode(Object.fromEntries(m.features.map((f, j) => [f, onEdge[j]])), 'p').row]);
      expect(Math.abs(edge - predictTrees(m, onEdge))).toBeLessThan(1e-5);
    } finally {
      await s.release();
    }
  });
});
