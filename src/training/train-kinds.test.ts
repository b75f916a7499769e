import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveContract, inspectGraph, Servable } from '../inference/index.js';
import { tempDir } from '../../test/helpers/db.js';
import { ingestCsv } from './csv.js';
import { rowPayload } from './dataset.js';
import { generateCarListings } from './synthetic-cars.js';
import { indexSplit } from './train.js';
import { fitMultinomial, fitRidge, trainKindModel } from './train-kinds.js';

/**
 * Regression and multiclass training: every exported graph serves, through the serving code,
 * what the trainer itself computed for the held-out rows; the fitted models beat the obvious
 * baselines on data whose truth is known.
 */
const dir = tempDir();
const file = path.join(dir, 'cars.csv');
const cars = generateCarListings(4000, 11);
writeFileSync(file, cars.csv);

describe('regression and multiclass training', () => {
  for (const [target, task] of [
    ['price', 'regression'],
    ['fuel', 'multiclass'],
  ] as const) {
    for (const algo of ['gbdt', 'logreg'] as const) {
      it(`${task} ${algo === 'gbdt' ? 'gradient boosting' : 'linear model'}: the exported graph serves the trainer's values, and the task is read from the graph`, async () => {
        const ingested = await ingestCsv(file, { target });
        expect(ingested.task).toBe(task);
        const split = indexSplit(ingested.data, 0.25);
        const t = trainKindModel({ data: ingested.data, algo, split });
        const { contract, output } = deriveContract(inspectGraph(t.onnx));
        expect(contract.task).toBe(task);
        if (task === 'multiclass') expect(output.class_labels).toEqual(ingested.data.classes);
        const s = await Servable.load(
          t.onnx,
          { model: 'cars', version: 1, contract: { ...contract, missing_category: '' }, output, policy: t.policy },
          { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } },
        );
        try {
          const rows = Array.from({ length: split.test.rows }, (_, i) => s.encoder.encode(rowPayload(split.test, i), 'row').row);
          const served = await s.run(rows);
          const scale = task === 'regression' ? split.test.target!.reduce((a, v) => a + Math.abs(v), 0) / split.test.rows : 1;
          served.forEach((o, i) => {
            const mine = t.test[i];
            if (task === 'multiclass') {
              o.probabilities!.forEach((p, k) => expect(Math.abs(p - mine.probabilities![k])).toBeLessThan(1e-5));
              expect(String(o.label)).toBe(mine.label);
            } else expect(Math.abs(o.score - mine.score) / scale).toBeLessThan(1e-5);
          });
        } finally {
          await s.release();
        }
        if (task === 'regression') {
          // Better than predicting the mean (R² 0), and the trees close to the noise floor of an 8 % price noise.
          expect(t.metrics.r2).toBeGreaterThan(algo === 'gbdt' ? 0.9 : 0.7);
        } else {
          const counts = new Map<number, number>();
          for (const k of split.test.classIndex!) counts.set(k, (counts.get(k) ?? 0) + 1);
          const majority = Math.max(...counts.values()) / split.test.rows;
          expect(t.metrics.accuracy).toBeGreaterThanOrEqual(majority);
          expect(t.reference.classes?.labels).toEqual(ingested.data.classes);
        }
      }, 120_000);
    }
  }

  it('ridge regression recovers known coefficients; multinomial logistic regression recovers known class weights', () => {
    let seed = 5;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const X = Array.from({ length: 2000 }, () => Float64Array.from([rand() * 2 - 1, rand() * 2 - 1]));
    const y = X.map((x) => 3 + 2 * x[0] - x[1]);
    const r = fitRidge(X, y, 1e-9);
    expect(r.intercept).toBeCloseTo(3, 6);
    expect([...r.weights].map((w) => Number(w.toFixed(6)))).toEqual([2, -1]);
    // Three classes whose log-odds against class 0 are linear in x: the fit recovers the differences.
    const truth = [
      [0, 0, 0],
      [0.5, 2, -1],
      [-0.5, -1, 2],
    ];
    const cls = new Uint16Array(X.length);
    X.forEach((x, i) => {
      const z = truth.map(([b, w0, w1]) => b + w0 * x[0] + w1 * x[1]);
      const e = z.map(Math.exp);
      const s = e.reduce((a, v) => a + v, 0);
      let u = rand() * s;
      let k = 0;
      while (u > e[k] && k < 2) u -= e[k++];
      cls[i] = k;
    });
    const m = fitMultinomial(X, cls, 3, 1e-6);
    const diff = (k: number, j: number) => m.coef[k * 2 + j] - m.coef[j];
    expect(diff(1, 0)).toBeCloseTo(2, 0);
    expect(diff(2, 1)).toBeCloseTo(2, 0);
  });
});
