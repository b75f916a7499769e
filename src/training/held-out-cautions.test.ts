import { describe, expect, it } from 'vitest';
import { heldOutCautions } from './held-out-cautions.js';

const binary = (labels: number[], predictions: number[], extra: Partial<Parameters<typeof heldOutCautions>[0]> = {}) =>
  heldOutCautions({ task: 'binary', labels, predictions, algo: 'gbdt', trainRows: 5000, thresholdChosenHere: true, ...extra });

describe('held-out cautions', () => {
  it('names the scarcer class of a binary hold-out when it has fewer than 20 rows, and only then', () => {
    // 19 positives of 400 rows, scores all different.
    const labels = Array.from({ length: 400 }, (_, i) => (i < 19 ? 1 : 0));
    const scores = labels.map((_, i) => i / 400);
    expect(binary(labels, scores)).toEqual([
      'held out: 19 positive rows of 400, too few to measure on: ROC AUC, F1 and precision, and the threshold chosen on these rows, would change a lot with another split; train on more rows, or hold out more (--test-fraction)',
    ]);
    // Twenty of each is enough; negatives are named when they are the scarcer class.
    expect(binary([...labels.slice(0, 380), ...Array(20).fill(1)], scores)).toEqual([]);
    const mostlyPositive = labels.map((l) => 1 - l);
    expect(binary(mostlyPositive, scores, { thresholdChosenHere: false })).toEqual([
      'held out: 19 negative rows of 400, too few to measure on: ROC AUC, F1 and precision would change a lot with another split; train on more rows, or hold out more (--test-fraction)',
    ]);
  });

  it('says when every held-out row gets the same prediction, and why when gbdt had too few rows to split', () => {
    const labels = Array.from({ length: 100 }, (_, i) => i % 2);
    expect(binary(labels, Array(100).fill(0.28571428))).toEqual([
      'the model gives every held-out row the same score (0.2857), so it learnt nothing from the columns: the columns do not tell the rows apart for it',
    ]);
    expect(binary(labels, Array(100).fill(0.5), { trainRows: 39 })).toEqual([
      'the model gives every held-out row the same score (0.5), so it learnt nothing from the columns: gbdt splits a node only when each side keeps 20 rows, and the training split has 39',
    ]);
    // 40 rows can make one split; a logistic regression has no such floor.
    expect(binary(labels, Array(100).fill(0.5), { trainRows: 40 })[0]).toMatch(/do not tell the rows apart/);
    expect(binary(labels, Array(100).fill(0.5), { trainRows: 7, algo: 'logreg' })[0]).toMatch(/do not tell the rows apart/);
    // One different score is enough to have learnt something.
    expect(binary(labels, [0.4, ...Array(99).fill(0.5)])).toEqual([]);
  });

  it('multiclass and regression: too few held-out rows, one class or value for all', () => {
    expect(heldOutCautions({ task: 'multiclass', predictions: ['a', 'b', 'a'], algo: 'gbdt', trainRows: 7, thresholdChosenHere: false })).toEqual([
      'held out: 3 rows, too few to measure on: the figures would change a lot with another split; train on more rows, or hold out more (--test-fraction)',
    ]);
    expect(heldOutCautions({ task: 'multiclass', predictions: Array(50).fill('Two year'), algo: 'logreg', trainRows: 150, thresholdChosenHere: false })).toEqual([
      'the model gives every held-out row the same class ("Two year"), so it learnt nothing from the columns: the columns do not tell the rows apart for it',
    ]);
    expect(heldOutCautions({ task: 'regression', predictions: Array.from({ length: 30 }, (_, i) => i), algo: 'gbdt', trainRows: 90, thresholdChosenHere: false })).toEqual([]);
    expect(heldOutCautions({ task: 'regression', predictions: Array(30).fill(1234.5678), algo: 'gbdt', trainRows: 25, thresholdChosenHere: false })).toEqual([
      'the model gives every held-out row the same value (1235), so it learnt nothing from the columns: gbdt splits a node only when each side keeps 20 rows, and the training split has 25',
    ]);
  });
});
