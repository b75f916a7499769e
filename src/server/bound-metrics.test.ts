import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundCounter, BoundHistogram } from './bound-metrics.js';

/** Deterministic values spread over every bucket, above the last bound and exactly on bounds. */
function values(n: number): number[] {
  const bounds = [0.0001, 0.001, 0.01, 0.1, 1];
  let x = 12345;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(i % 7 === 0 ? bounds[i % bounds.length] : (x / 2 ** 31) * 2.5);
  }
  return out;
}

const labelSets = [
  { model: 'churn', version: '1', arm: 'production' },
  { model: 'churn', version: '2', arm: 'canary' },
  { model: 'fraud "q"\\x', version: '1', arm: 'production' },
];

/** The same series written through prom-client and through the bound metrics, in registries of their own. */
function both() {
  const oracle = new client.Registry();
  const bound = new client.Registry();
  const help = 'test metric';
  const buckets = [0.0001, 0.001, 0.01, 0.1, 1];
  const labelNames = ['model', 'version', 'arm'] as const;
  return {
    oracle,
    bound,
    h: [new client.Histogram({ name: 'h_seconds', help, labelNames, buckets, registers: [oracle] }), new BoundHistogram({ name: 'h_seconds', help, labelNames, buckets, registers: [bound] })] as const,
    c: [new client.Counter({ name: 'c_total', help, labelNames, registers: [oracle] }), new BoundCounter({ name: 'c_total', help, labelNames, registers: [bound] })] as const,
  };
}

describe('bound metrics', () => {
  it("print the same exposition text and JSON as prom-client's Histogram and Counter fed the same values", async () => {
    const { oracle, bound, h, c } = both();
    values(500).forEach((v, i) => {
      // The same label sets in another key order on odd calls: the first call's order is printed.
      const set = labelSets[i % labelSets.length];
      const labels = i % 2 ? { arm: set.arm, version: set.version, model: set.model } : set;
      h[0].labels(labels).observe(v);
      h[1].labels(labels).observe(v);
      c[0].labels(labels).inc(i % 3);
      c[1].labels(labels).inc(i % 3);
    });
    const text = await bound.metrics();
    expect(text).toBe(await oracle.metrics());
    expect(text).toContain('h_seconds_bucket{le="+Inf",model="churn",version="1",arm="production"} 167');
    expect(await bound.getMetricsAsJSON()).toEqual(await oracle.getMetricsAsJSON());
  });

  it('aggregate across workers as prom-client does (AggregatorRegistry sums the series)', async () => {
    const workers = [both(), both()];
    workers.forEach((w, k) =>
      values(200 + k * 50).forEach((v, i) => {
        const labels = labelSets[(i + k) % labelSets.length];
        w.h[0].labels(labels).observe(v);
        w.h[1].labels(labels).observe(v);
        w.c[0].labels(labels).inc();
        w.c[1].labels(labels).inc();
      }),
    );
    const oracle = client.AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.oracle.getMetricsAsJSON())));
    const bound = client.AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.bound.getMetricsAsJSON())));
    expect(await bound.metrics()).toBe(await oracle.metrics());
  });

  it('refuse what prom-client refuses: an unknown label, a non-finite value, a negative increment', () => {
    const { h, c } = both();
    expect(() => h[1].labels({ model: 'm', version: '1', arm: 'a', other: 'x' } as never)).toThrow(/not included/);
    expect(() => h[1].labels(labelSets[0]).observe(Number.NaN)).toThrow(/not a valid number/);
    expect(() => c[1].labels(labelSets[0]).inc(-1)).toThrow(/not possible to decrease/);
  });

  it('one series per label set, whatever order the labels come in; reset empties them', async () => {
    const { bound, h } = both();
    const s = h[1].labels({ model: 'm', version: '1', arm: 'a' });
    expect(h[1].labels({ arm: 'a', version: '1', model: 'm' })).toBe(s);
    s.observe(0.5);
    expect(await bound.metrics()).toContain('h_seconds_count{model="m",version="1",arm="a"} 1');
    h[1].reset();
    expect(await bound.metrics()).not.toContain('h_seconds_count');
  });
});
