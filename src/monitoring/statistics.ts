/**
 * Distribution statistics shared by rollout analysis and drift monitoring.
 * Histograms are arrays of counts over the same bins.
 */

/** Population stability index between two histograms over the same bins (a = expected, b = actual). */
export function psi(a: readonly number[], b: readonly number[], epsilon = 1e-4): number {
  const ta = a.reduce((s, x) => s + x, 0);
  const tb = b.reduce((s, x) => s + x, 0);
  if (ta === 0 || tb === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    // Empty bins get a small share so the log stays finite (the usual convention).
    const pa = Math.max(a[i] / ta, epsilon);
    const pb = Math.max((b[i] ?? 0) / tb, epsilon);
    sum += (pb - pa) * Math.log(pb / pa);
  }
  return sum;
}

/**
 * Quantile from a histogram with upper bounds `bounds` (the last bin is everything above the
 * last bound), interpolating linearly inside the bin like Prometheus' histogram_quantile.
 */
export function histogramQuantile(counts: readonly number[], bounds: readonly number[], q: number): number {
  const total = counts.reduce((s, x) => s + x, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] >= rank && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + ((bounds[i] - lower) * (rank - seen)) / counts[i];
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1];
}
