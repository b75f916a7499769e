import { DEFAULT_GBDT } from './gbdt.js';

/**
 * Fewer held-out rows of a class than this and its figures move by tenths from one split to the
 * next: one row more or less among 10 positives changes recall by 0.1.
 */
export const FEW_HELD_OUT = 20;

export interface HeldOutView {
  task: 'binary' | 'multiclass' | 'regression';
  /** Binary: the held-out 0/1 labels. */
  labels?: ArrayLike<number>;
  /** Held-out predictions: the score (binary), the predicted label (multiclass) or the value (regression). */
  predictions: ArrayLike<number | string>;
  algo: 'gbdt' | 'logreg';
  trainRows: number;
  /** The threshold was chosen on these rows (binary without bands). */
  thresholdChosenHere: boolean;
}

/**
 * Why held-out figures may say little, in words for the training report: too few rows to measure
 * on, or the same prediction for every row (nothing learnt). Neither stops a training run; the
 * gates (--min-auc, --min-r2 …) are what refuse a model.
 */
export function heldOutCautions(v: HeldOutView): string[] {
  const out: string[] = [];
  const n = v.predictions.length;
  if (v.task === 'binary' && v.labels) {
    let pos = 0;
    for (let i = 0; i < v.labels.length; i++) pos += v.labels[i];
    const [fewest, which] = pos <= n - pos ? [pos, 'positive'] : [n - pos, 'negative'];
    if (fewest < FEW_HELD_OUT)
      out.push(
        `held out: ${fewest} ${which} row${fewest === 1 ? '' : 's'} of ${n}, too few to measure on: ROC AUC, F1 and precision${v.thresholdChosenHere ? ', and the threshold chosen on these rows,' : ''} would change a lot with another split; train on more rows, or hold out more (--test-fraction)`,
      );
  } else if (n < FEW_HELD_OUT) {
    out.push(`held out: ${n} row${n === 1 ? '' : 's'}, too few to measure on: the figures would change a lot with another split; train on more rows, or hold out more (--test-fraction)`);
  }
  if (n > 1 && allSame(v.predictions)) {
    const what = v.task === 'binary' ? 'score' : v.task === 'multiclass' ? 'class' : 'value';
    const shown = typeof v.predictions[0] === 'number' ? Number((v.predictions[0] as number).toPrecision(4)) : JSON.stringify(v.predictions[0]);
    const why =
      v.algo === 'gbdt' && v.trainRows < 2 * DEFAULT_GBDT.minSamplesLeaf
        ? `: gbdt splits a node only when each side keeps ${DEFAULT_GBDT.minSamplesLeaf} rows, and the training split has ${v.trainRows}`
        : ': the columns do not tell the rows apart for it';
    out.push(`the model gives every held-out row the same ${what} (${shown}), so it learnt nothing from the columns${why}`);
  }
  return out;
}

function allSame(values: ArrayLike<number | string>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return false;
  return true;
}
