import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aucByPairs } from '../../test/helpers/independent.js';
import {
  accuracy,
  averagePrecision,
  binOf,
  binOfServed,
  brier,
  calibration,
  classification,
  confusion,
  histogramCountAbove,
  histogramQuantile,
  jsDistance,
  kolmogorovSf,
  ksFromCounts,
  ksTwoSample,
  logLoss,
  psi,
  quantileEdges,
  rocAuc,
  servedTolerance,
  wilsonLower,
  proportionStandardError,
  aucStandardError,
} from './statistics.js';

// Expected values from scipy 1.17.1 and scikit-learn 1.6.1 (scripts/statistics-fixtures.py).
const fx = JSON.parse(readFileSync(new URL('./statistics.fixtures.json', import.meta.url), 'utf8'));

describe('statistics: textbook cases', () => {
  it('PSI is zero for identical shares and matches a hand computation', () => {
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
    // Shares 0.5/0.5 against 0.25/0.75: (0.25−0.5)·ln(0.5) + (0.75−0.5)·ln(1.5).
    expect(psi([50, 50], [25, 75])).toBeCloseTo(-0.25 * Math.log(0.5) + 0.25 * Math.log(1.5), 12);
    expect(psi([], [])).toBeNaN();
  });

  it('Jensen–Shannon distance is 0 for equal and 1 for disjoint distributions (base 2)', () => {
    expect(jsDistance([1, 1], [5, 5])).toBeCloseTo(0, 12);
    expect(jsDistance([1, 0], [0, 1])).toBeCloseTo(1, 12);
  });

  it('KS of identical samples is 0 with p-value 1, of disjoint samples 1', () => {
    expect(ksTwoSample([1, 2, 3], [1, 2, 3])).toEqual({ statistic: 0, p_value: 1 });
    expect(ksTwoSample([1, 2, 3], [4, 5, 6]).statistic).toBe(1);
    expect(ksTwoSample([], [1]).statistic).toBeNaN();
  });

  it('AUC equals the brute-force share of correctly ordered pairs, ties counted half', () => {
    let seed = 3;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const scores = Array.from({ length: 300 }, () => Math.round(rand() * 20) / 20);
    const labels = scores.map((s) => (rand() < s ? 1 : 0));
    expect(rocAuc(scores, labels)).toBeCloseTo(aucByPairs(scores, labels), 12);
  });

  it("AUC of a perfect ranking is 1, of a reversed one 0, and scikit-learn's documented example 0.75", () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });

  it('log loss and Brier of two rows by hand', () => {
    expect(logLoss([0.9, 0.2], [1, 0])).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 12);
    expect(brier([0.9, 0.2], [1, 0])).toBeCloseTo((0.01 + 0.04) / 2, 12);
    expect(brier([], [])).toBeNaN();
  });

  it('average precision and calibration by hand', () => {
    // Ranked 1,0,1: precision 1 at recall ½, then 2/3 at recall 1 → ½·1 + ½·⅔.
    expect(averagePrecision([0.9, 0.8, 0.7], [1, 0, 1])).toBeCloseTo(0.5 + 1 / 3, 12);
    expect(averagePrecision([0.9, 0.8], [0, 0])).toBeNaN();
    const t = calibration([0.05, 0.1, 0.15, 0.95], [0, 1, 0, 1], 10);
    expect(t[0]).toMatchObject({ count: 2, mean_score: expect.closeTo(0.075, 12), positive_rate: 0.5 });
    expect(t[1]).toMatchObject({ count: 1, positive_rate: 0 });
    expect(t[5]).toMatchObject({ count: 0, mean_score: null, positive_rate: null });
    expect(t[9]).toMatchObject({ count: 1, positive_rate: 1 });
  });

  it('precision, recall and F1 from a confusion matrix by hand; undefined ones are NaN', () => {
    const c = confusion([1, 1, 1, 0, 0], [1, 0, 1, 1, 0]);
    expect(c).toEqual({ tp: 2, fp: 1, fn: 1, tn: 1 });
    expect(classification(c)).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: 2 / 3 });
    expect(classification(confusion([0, 0], [0, 0])).precision).toBeNaN();
  });

  it('bins: edges are upper bounds, values above the last edge go to the last bin', () => {
    expect([0, 1, 1.5, 2, 3].map((x) => binOf(x, [1, 2]))).toEqual([0, 0, 1, 1, 2]);
    expect(binOf(5, [])).toBe(0);
  });

  it('served predictions: a float32 rounding above an edge counts at it, a real difference does not', () => {
    const edges = [0.0766289920388308, 0.18978142138298684, 0.5347982536010965];
    const tol = servedTolerance(edges);
    expect(tol).toBe(1e-5);
    // The same score as the graph's float32 output gives it, and an honest neighbour.
    expect(binOfServed(Math.fround(0.18978142138298684), edges, tol)).toBe(1);
    expect(binOfServed(0.18978142138298684 + 2e-5, edges, tol)).toBe(2);
    expect(binOfServed(0.0766289920388308, edges, tol)).toBe(0);
    expect(binOfServed(0.01, edges, tol)).toBe(0);
    expect(binOfServed(0.9, edges, tol)).toBe(3);
    // Values of thousands (a regression's): the tolerance follows the largest edge.
    expect(servedTolerance([1200, 25000, Infinity])).toBeCloseTo(0.25, 12);
    expect(binOfServed(25000.1, [1200, 25000], servedTolerance([1200, 25000]))).toBe(1);
  });

  it('KS from histograms equals KS on raw samples when every distinct value is a bin edge', () => {
    const a = [1, 2, 2, 3, 5, 8, 8, 9];
    const b = [2, 3, 3, 4, 6, 7, 9, 9, 10];
    const edges = [...new Set([...a, ...b])].sort((x, y) => x - y);
    const hist = (xs: number[]) => xs.reduce((h, x) => (h[binOf(x, edges)]++, h), new Array(edges.length + 1).fill(0));
    expect(ksFromCounts(hist(a), hist(b)).statistic).toBeCloseTo(ksTwoSample(a, b).statistic, 12);
    // Coarser bins can only see a smaller gap.
    const coarse = [3, 7];
    const hist2 = (xs: number[]) => xs.reduce((h, x) => (h[binOf(x, coarse)]++, h), [0, 0, 0]);
    expect(ksFromCounts(hist2(a), hist2(b)).statistic).toBeLessThanOrEqual(ksTwoSample(a, b).statistic);
  });
});

describe('statistics: canary latency evidence', () => {
  it('histogramCountAbove is the inverse of histogramQuantile: the q-quantile is x exactly where (1 − q) lie above x', () => {
    const bounds = [1, 2, 5, 10];
    const counts = [100, 40, 30, 20, 10];
    // Hand counts: above 3.5 half of the 2–5 bin (15) and everything from 5 up (30).
    expect(histogramCountAbove(counts, bounds, 3.5)).toBeCloseTo(45, 12);
    expect(histogramCountAbove(counts, bounds, 0)).toBe(200);
    expect(histogramCountAbove(counts, bounds, 5)).toBe(30);
    expect(histogramCountAbove(counts, bounds, 10)).toBe(10);
    expect(histogramCountAbove(counts, bounds, 50)).toBe(0);
    for (const q of [0.3, 0.5, 0.8, 0.9, 0.94]) {
      const x = histogramQuantile(counts, bounds, q);
      expect(histogramCountAbove(counts, bounds, x)).toBeCloseTo((1 - q) * 200, 9);
    }
  });

  it('wilsonLower: the lower bound of the Wilson score interval (statsmodels proportion_confint, method wilson)', () => {
    // /usr/bin/python3 (Debian's statsmodels 0.13.5): proportion_confint(k, n, alpha=0.002, method='wilson')[0],
    // a two-sided 99.8 % interval, whose lower bound is the one-sided 99.9 % one (z = norm.ppf(0.999)).
    const z = 3.090232306167813;
    const cases: [number, number, number][] = [
      [1, 10, 0.008789112824549972],
      [20.1, 300, 0.03445713097470928],
      [201, 3000, 0.05422332432580908],
      [40.2, 300, 0.0844024396507869],
      [500, 500, 0.9812588668286188],
      [3, 7, 0.09161890874602491],
      [50, 1000, 0.03263648427270493],
    ];
    for (const [k, n, lower] of cases) expect(wilsonLower(k, n, z)).toBeCloseTo(lower, 12);
    expect(wilsonLower(0, 10, z)).toBeCloseTo(0, 12);
    expect(wilsonLower(0, 0, z)).toBe(0);
  });
});

describe('statistics: standard errors the canary analysis weighs', () => {
  it('the Agresti–Caffo difference of two proportions (statsmodels confint_proportions_2indep, method agresti-caffo)', () => {
    // Half the width of statsmodels' 99.8 % interval over norm.ppf(0.999), Debian's statsmodels 0.13.5.
    const cases: [number, number, number, number, number][] = [
      [79, 176, 409, 770, 0.04138495309327423],
      [0, 100, 3, 100, 0.021553767905674707],
      [50, 50, 10, 60, 0.052121102663345374],
    ];
    for (const [k1, n1, k2, n2, se] of cases) expect(Math.hypot(proportionStandardError(k1, n1), proportionStandardError(k2, n2))).toBeCloseTo(se, 12);
    expect(proportionStandardError(0, 0)).toBeNaN();
  });

  it('ROC AUC by Hanley and McNeil (1982)', () => {
    // Their formula written out again in Python (math only), independently of this one.
    expect(aucStandardError(0.8, 50, 50)).toBeCloseTo(0.04450218471540969, 12);
    expect(aucStandardError(0.948, 2400, 5600)).toBeCloseTo(0.003229965317904278, 12);
    expect(aucStandardError(0.5, 10, 30)).toBeCloseTo(0.10671873729054747, 12);
    expect(aucStandardError(0.99, 100, 900)).toBeCloseTo(0.007029534440167083, 12);
    expect(aucStandardError(0.9, 0, 30)).toBeNaN();
  });
});

describe('statistics: against scipy and scikit-learn', () => {
  it('two-sample KS statistic (scipy.stats.ks_2samp) and asymptotic p-value (kstwobign)', () => {
    for (const c of fx.ks) {
      const r = ksTwoSample(c.a, c.b);
      expect(r.statistic).toBeCloseTo(c.statistic, 12);
      expect(Math.abs(r.p_value - c.p_value)).toBeLessThan(1e-9);
    }
  });

  it('Kolmogorov survival function on both sides of the series switch', () => {
    for (const c of fx.kolmogorov_sf) expect(Math.abs(kolmogorovSf(c.lambda) - c.sf)).toBeLessThan(1e-12);
  });

  it('Jensen–Shannon distance (scipy.spatial.distance.jensenshannon, base 2)', () => {
    for (const c of fx.js) expect(jsDistance(c.a, c.b)).toBeCloseTo(c.distance, 12);
  });

  it('PSI (an independent numpy implementation of the textbook formula)', () => {
    for (const c of fx.psi) expect(psi(c.a, c.b)).toBeCloseTo(c.psi, 12);
  });

  it('ROC AUC with ties, Brier, log loss, precision, recall, F1 (scikit-learn)', () => {
    for (const c of fx.classification) {
      expect(rocAuc(c.scores, c.labels)).toBeCloseTo(c.roc_auc, 12);
      expect(brier(c.scores, c.labels)).toBeCloseTo(c.brier, 12);
      expect(logLoss(c.scores, c.labels)).toBeCloseTo(c.log_loss, 12);
      const m = classification(
        confusion(
          c.scores.map((s: number) => (s >= c.threshold ? 1 : 0)),
          c.labels,
        ),
      );
      expect(m.precision).toBeCloseTo(c.precision, 12);
      expect(m.recall).toBeCloseTo(c.recall, 12);
      expect(m.f1).toBeCloseTo(c.f1, 12);
      expect(
        accuracy(
          confusion(
            c.scores.map((s: number) => (s >= c.threshold ? 1 : 0)),
            c.labels,
          ),
        ),
      ).toBeCloseTo(c.accuracy, 12);
      expect(averagePrecision(c.scores, c.labels)).toBeCloseTo(c.average_precision, 12);
      const bins = calibration(c.scores, c.labels).filter((b) => b.count > 0);
      expect(bins.map((b) => [b.positive_rate, b.mean_score])).toEqual(c.calibration.map(([t, p]: [number, number]) => [expect.closeTo(t, 12), expect.closeTo(p, 12)]));
    }
  });

  it('quantile bin edges (numpy.quantile, inverted_cdf), with repeated values collapsed', () => {
    for (const c of fx.quantile_edges) expect(quantileEdges(c.values, c.bins)).toEqual(c.edges);
  });
});
