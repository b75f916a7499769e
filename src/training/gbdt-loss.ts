export type RegressionLoss = 'squared_error' | 'absolute_error' | 'huber';

/**
 * What is learned: a 0/1 label (log loss), a value (a regression loss), or a class index in
 * 0..classes-1 (softmax cross-entropy).
 */
export type GbdtTarget = { kind: 'binary'; y: Uint8Array } | { kind: 'regression'; y: Float64Array } | { kind: 'multiclass'; y: Uint16Array; classes: number };

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The q-quantile of some values (sorted copy, lower of the two middle ones: a median that is a data value). */
export function quantileOf(values: Float64Array, q: number): number {
  if (values.length === 0) return 0;
  const v = Float64Array.from(values).sort();
  return v[Math.min(v.length - 1, Math.max(0, Math.floor(q * (v.length - 1) + 0.5)))];
}

/** Where boosting starts: the log-odds of the positive share, the mean (squared error) or median value, or each class's log share. */
export function initialScores(target: GbdtTarget, rows: number[], loss: RegressionLoss): number[] {
  if (target.kind === 'binary') {
    let pos = 0;
    for (const i of rows) pos += target.y[i];
    const prior = Math.min(Math.max(pos / rows.length, 1e-6), 1 - 1e-6);
    return [Math.log(prior / (1 - prior))];
  }
  if (target.kind === 'regression') {
    const y = Float64Array.from(rows, (i) => target.y[i]);
    if (loss === 'squared_error') return [y.reduce((a, b) => a + b, 0) / y.length];
    return [quantileOf(y, 0.5)];
  }
  const counts = new Array<number>(target.classes).fill(0);
  for (const i of rows) counts[target.y[i]]++;
  // A class absent from the training rows starts very unlikely rather than impossible.
  return counts.map((c) => Math.log(Math.max(c / rows.length, 1e-6)));
}

export interface Loss {
  /** Fill the gradients and hessians of `rows` from their raw scores. */
  gradients(rows: number[], raw: Float64Array, K: number, g: Float64Array, h: Float64Array, gk: Float64Array[], hk: Float64Array[], probs: Float64Array): void;
  /** The mean loss of `rows` (early stopping compares it; progress reports it). */
  value(rows: number[], raw: Float64Array, K: number, probs: Float64Array): number;
}

/** Softmax of row i's K raw scores into `out` (shifted by the maximum, so exp never overflows). */
function softmax(raw: Float64Array, i: number, K: number, out: Float64Array): void {
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, raw[i * K + k]);
  let sum = 0;
  for (let k = 0; k < K; k++) sum += out[k] = Math.exp(raw[i * K + k] - max);
  for (let k = 0; k < K; k++) out[k] /= sum;
}

export function lossOf(target: GbdtTarget, regression: RegressionLoss): Loss {
  if (target.kind === 'binary') {
    const y = target.y;
    const one = (i: number, z: number) => {
      const pr = sigmoid(z);
      return y[i] ? -Math.log(Math.max(pr, 1e-15)) : -Math.log(Math.max(1 - pr, 1e-15));
    };
    return {
      gradients(rows, raw, _K, g, h) {
        for (const i of rows) {
          const pr = sigmoid(raw[i]);
          g[i] = pr - y[i];
          h[i] = Math.max(pr * (1 - pr), 1e-16);
        }
      },
      value(rows, raw) {
        let l = 0;
        for (const i of rows) l += one(i, raw[i]);
        return l / rows.length;
      },
    };
  }
  if (target.kind === 'multiclass') {
    const y = target.y;
    return {
      gradients(rows, raw, K, _g, _h, gk, hk, probs) {
        for (const i of rows) {
          softmax(raw, i, K, probs);
          for (let k = 0; k < K; k++) {
            const pk = probs[k];
            gk[k][i] = pk - (y[i] === k ? 1 : 0);
            hk[k][i] = Math.max(pk * (1 - pk), 1e-16);
          }
        }
      },
      value(rows, raw, K, probs) {
        let l = 0;
        for (const i of rows) {
          softmax(raw, i, K, probs);
          l -= Math.log(Math.max(probs[y[i]], 1e-15));
        }
        return l / rows.length;
      },
    };
  }
  const y = target.y;
  // Huber: quadratic within delta of the target, linear beyond; delta is the 90th percentile of
  // the absolute residuals each round, as scikit-learn's GradientBoostingRegressor sets it.
  let delta = Infinity;
  const pointLoss = (r: number) => (regression === 'squared_error' ? r * r : regression === 'absolute_error' ? Math.abs(r) : Math.abs(r) <= delta ? 0.5 * r * r : delta * (Math.abs(r) - delta / 2));
  return {
    gradients(rows, raw, _K, g, h) {
      if (regression === 'huber')
        delta = quantileOf(
          Float64Array.from(rows, (i) => Math.abs(raw[i] - y[i])),
          0.9,
        );
      for (const i of rows) {
        const r = raw[i] - y[i];
        g[i] = regression === 'squared_error' ? r : regression === 'absolute_error' ? Math.sign(r) : Math.abs(r) <= delta ? r : delta * Math.sign(r);
        h[i] = 1;
      }
    },
    value(rows, raw) {
      let l = 0;
      for (const i of rows) l += pointLoss(raw[i] - y[i]);
      return l / rows.length;
    },
  };
}
