import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { multiclassMetrics, quantile, regressionMetrics } from './statistics.js';

// Expected values from scikit-learn 1.2.1 and numpy 1.24.2 (scripts/task-statistics-fixtures.py).
const fx = JSON.parse(readFileSync(new URL('./task-statistics.fixtures.json', import.meta.url), 'utf8')) as {
  regression: {
    predicted: number[];
    actual: number[];
    mae: number;
    rmse: number;
    r2: number;
    mape: number;
    mape_zero_targets: number;
    residual_quantiles: Record<string, number>;
    deciles: { decile: number; rows: number; mean_predicted: number; mean_actual: number }[];
  }[];
  multiclass: {
    classes: string[];
    actual: string[];
    predicted: string[];
    probabilities: number[][];
    accuracy: number;
    macro_f1: number;
    weighted_f1: number;
    log_loss: number;
    precision: number[];
    recall: number[];
    confusion: number[][];
  }[];
};

const close = (a: number, b: number, rel = 1e-10) => expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b)));

describe('regression statistics against scikit-learn', () => {
  it('MAE, RMSE, R², MAPE without zero targets, residual quantiles and the decile table', () => {
    for (const c of fx.regression) {
      const m = regressionMetrics(c.predicted, c.actual);
      close(m.mae, c.mae);
      close(m.rmse, c.rmse);
      close(m.r2, c.r2);
      close(m.mape, c.mape);
      expect(m.mape_zero_targets).toBe(c.mape_zero_targets);
      for (const [k, v] of Object.entries(c.residual_quantiles)) close(m.residual_quantiles[k as keyof typeof m.residual_quantiles], v);
      expect(m.deciles.map((d) => d.rows)).toEqual(c.deciles.map((d) => d.rows));
      m.deciles.forEach((d, i) => {
        close(d.mean_predicted, c.deciles[i].mean_predicted);
        close(d.mean_actual, c.deciles[i].mean_actual);
      });
    }
  });

  it('textbook cases: a perfect fit, a constant target, the median of an even sample', () => {
    expect(regressionMetrics([1, 2, 3], [1, 2, 3])).toMatchObject({ mae: 0, rmse: 0, r2: 1, mape: 0 });
    expect(regressionMetrics([1, 2], [5, 5]).r2).toBeNaN();
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(regressionMetrics([10, 0], [0, 5])).toMatchObject({ mape: 1, mape_zero_targets: 1 });
  });
});

describe('multiclass statistics against scikit-learn', () => {
  it('accuracy, macro and weighted F1, log loss, per-class precision and recall, confusion matrix', () => {
    for (const c of fx.multiclass) {
      const m = multiclassMetrics(c.predicted, c.actual, c.classes, c.probabilities);
      close(m.accuracy, c.accuracy);
      close(m.macro_f1, c.macro_f1);
      close(m.weighted_f1, c.weighted_f1);
      close(m.log_loss, c.log_loss, 1e-9);
      expect(m.per_class.map((p) => p.class)).toEqual(c.classes);
      m.per_class.forEach((p, i) => {
        close(p.precision, c.precision[i]);
        close(p.recall, c.recall[i]);
      });
      expect(m.confusion).toEqual({ classes: c.classes, matrix: c.confusion });
      expect(m.unknown_class_rows).toBe(0);
    }
  });

  it('a real class the model lacks is counted, always wrong, and left out of log loss', () => {
    const m = multiclassMetrics(
      ['a', 'b', 'a'],
      ['a', 'z', 'a'],
      ['a', 'b'],
      [
        [0.9, 0.1],
        [0.2, 0.8],
        [0.6, 0.4],
      ],
    );
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.unknown_class_rows).toBe(1);
    expect(m.log_loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.6)) / 2, 12);
    expect(m.confusion.classes).toEqual(['a', 'b', 'z']);
    expect(m.confusion.matrix[2]).toEqual([0, 1, 0]);
  });
});
