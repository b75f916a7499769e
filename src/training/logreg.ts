export interface LogRegModel {
  weights: Float64Array;
  intercept: number;
  iterations: number;
  converged: boolean;
  /** Max-norm of the objective's gradient at the solution. */
  gradientNorm: number;
}

export interface LogRegOptions {
  l2?: number;
  maxIterations?: number;
  tolerance?: number;
  onIteration?: (iteration: number, loss: number, gradientNorm: number) => void;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * L2-regularised logistic regression solved by Newton's method (IRLS): each step solves the
 * exact Hessian system, so it converges quadratically to the optimum instead of stopping
 * after a fixed number of gradient steps. Minimises
 *   sum_i logloss(y_i, sigmoid(w·x_i + b)) + (l2 / 2) * |w|²   (the intercept is not penalised,
 * which is scikit-learn's LogisticRegression objective with C = 1 / l2).
 */
export function fitLogisticRegression(X: Float64Array[], y: Uint8Array, opts: LogRegOptions = {}): LogRegModel {
  const l2 = opts.l2 ?? 1;
  const maxIt = opts.maxIterations ?? 100;
  const tol = opts.tolerance ?? 1e-11;
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const p = d + 1; // last parameter is the intercept
  const beta = new Float64Array(p);
  const grad = new Float64Array(p);
  const H = Array.from({ length: p }, () => new Float64Array(p));
  let gnorm = Infinity;
  let it = 0;
  let converged = false;
  let iterations = 0;
  const lossAt = (b: Float64Array) => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      let z = b[d];
      const x = X[i];
      for (let j = 0; j < d; j++) z += b[j] * x[j];
      // log(1 + e^z) - y z, computed stably
      loss += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i] * z;
    }
    let pen = 0;
    for (let j = 0; j < d; j++) pen += b[j] * b[j];
    return loss + (l2 / 2) * pen;
  };
  let loss = lossAt(beta);
  for (it = 1; it <= maxIt; it++) {
    grad.fill(0);
    for (const row of H) row.fill(0);
    for (let i = 0; i < n; i++) {
      const x = X[i];
      let z = beta[d];
      for (let j = 0; j < d; j++) z += beta[j] * x[j];
      const mu = sigmoid(z);
      const r = mu - y[i];
      const w = Math.max(mu * (1 - mu), 1e-12);
      for (let j = 0; j < d; j++) {
        grad[j] += r * x[j];
        const wx = w * x[j];
        const Hj = H[j];
        for (let k = 0; k <= j; k++) Hj[k] += wx * x[k];
        H[d][j] += wx;
      }
      grad[d] += r;
      H[d][d] += w;
    }
    for (let j = 0; j < d; j++) {
      grad[j] += l2 * beta[j];
      H[j][j] += l2;
    }
    for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) H[k][j] = H[j][k];
    gnorm = Math.max(...grad.map(Math.abs));
    iterations = it;
    opts.onIteration?.(it, loss, gnorm);
    if (gnorm < tol * Math.max(1, n)) {
      converged = true;
      break;
    }
    const step = choleskySolve(H, grad);
    // Backtracking keeps each Newton step a descent step on badly scaled data.
    // Losses within rounding noise of each other count as equal, so the last quadratic steps are taken.
    const slack = 1e-12 * Math.max(1, Math.abs(loss));
    let t = 1;
    let next = beta.map((b, j) => b - t * step[j]);
    let nextLoss = lossAt(next);
    while (nextLoss > loss + slack && t > 1e-6) {
      t /= 2;
      next = beta.map((b, j) => b - t * step[j]);
      nextLoss = lossAt(next);
    }
    if (nextLoss > loss + slack) {
      // No descent direction left at floating-point precision: we are at the optimum if the gradient is tiny.
      converged = gnorm < 1e-6 * Math.max(1, n);
      break;
    }
    beta.set(next);
    loss = nextLoss;
  }
  return { weights: beta.slice(0, d), intercept: beta[d], iterations, converged, gradientNorm: gnorm };
}

/** Solve A x = b for symmetric positive definite A. */
export function choleskySolve(A: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length;
  const L = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) {
        if (s <= 0) throw new Error('matrix is not positive definite; increase the L2 penalty');
        L[i][i] = Math.sqrt(s);
      } else L[i][j] = s / L[j][j];
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i][k] * z[k];
    z[i] = s / L[i][i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= L[k][i] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

export function predictProba(m: LogRegModel, x: Float64Array): number {
  let z = m.intercept;
  for (let j = 0; j < x.length; j++) z += m.weights[j] * x[j];
  return sigmoid(z);
}
