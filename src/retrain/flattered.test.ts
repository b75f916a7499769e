import { describe, expect, it } from 'vitest';
import type { Dataset } from '../training/index.js';
import { flatteredWarning } from './flattered.js';

/** Held-out rows: `n` of them, a third positive. */
const heldOut = (n: number): Dataset => ({ rows: n, label: Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0)), numeric: {}, categorical: {} });

describe('a version scoring far better on the retrain’s held-out rows than on its own', () => {
  it('binary: named past three standard errors of chance and 0.02; a version that got worse (drift) or about the same is not', () => {
    const rows = heldOut(2000);
    expect(flatteredWarning('binary', { roc_auc: 0.85 }, { roc_auc: 0.93 }, rows, 3)).toMatch(
      /^version 3 scores ROC AUC 0\.9300 on these held-out rows against 0\.8500 on its own when it was trained: it was most likely trained on many of them/,
    );
    expect(flatteredWarning('binary', { roc_auc: 0.85 }, { roc_auc: 0.86 }, rows, 3)).toBeUndefined();
    expect(flatteredWarning('binary', { roc_auc: 0.85 }, { roc_auc: 0.78 }, rows, 3)).toBeUndefined();
    // The same gain on 60 rows is within what chance moves an AUC by.
    expect(flatteredWarning('binary', { roc_auc: 0.85 }, { roc_auc: 0.93 }, heldOut(60), 3)).toBeUndefined();
    // A version without a recorded score (imported, or from before metrics were kept): nothing to compare.
    expect(flatteredWarning('binary', undefined, { roc_auc: 0.99 }, rows, 3)).toBeUndefined();
    // Split by time: the held-out rows are the latest, and the advice is about the period, not the file's order.
    expect(flatteredWarning('binary', { roc_auc: 0.85 }, { roc_auc: 0.93 }, rows, 3, 'booked_on')).toMatch(
      / so the comparison flatters it\. Retraining holds out the new data's latest rows by booked_on; if they fall in the period version 3 was trained on, retrain on data that runs past it, or judge the candidate with modelgate evaluate on rows version 3 never saw$/,
    );
  });

  it('multiclass by accuracy, regression by the share R² leaves unexplained', () => {
    const rows = heldOut(3000);
    expect(flatteredWarning('multiclass', { accuracy: 0.6 }, { accuracy: 0.7 }, rows, 2)).toMatch(/^version 2 scores accuracy 0\.7000 on these held-out rows against 0\.6000/);
    expect(flatteredWarning('multiclass', { accuracy: 0.6 }, { accuracy: 0.61 }, rows, 2)).toBeUndefined();
    expect(flatteredWarning('regression', { r2: 0.8 }, { r2: 0.9 }, rows, 2)).toMatch(/^version 2 scores R² 0\.9000 .* against 0\.8000/);
    // Unexplained share 0.2 → 0.17: less than a quarter off.
    expect(flatteredWarning('regression', { r2: 0.8 }, { r2: 0.83 }, rows, 2)).toBeUndefined();
  });
});
