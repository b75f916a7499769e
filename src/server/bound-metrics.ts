import client from 'prom-client';

/**
 * Labelled metrics for the per-request path. prom-client validates and hashes the labels on
 * every observe and inc, even through a child from labels() (0.3–0.5 µs a call, three calls a
 * request: docs/performance.md). Here labels() is checked once and returns the series itself,
 * whose observe/inc only add numbers. The registry reads these metrics through get(), in
 * prom-client's own format, so /metrics, the JSON form and the cluster aggregation
 * (AggregatorRegistry) see them as prom-client metrics (tested against prom-client's output).
 */

type Labels<L extends string> = Record<L, string>;

interface Options<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers?: client.Registry[];
}

abstract class BoundMetric<L extends string, S extends { labels: Labels<L> }> {
  readonly aggregator = 'sum' as const;
  name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected readonly series = new Map<string, S>();

  constructor(o: Options<L>) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames;
    // The registry takes any object with a name and get(); its TypeScript type lists only its own classes.
    for (const r of o.registers ?? []) r.registerMetric(this as unknown as client.Metric);
  }

  /** The series for these labels (made once): keep it, and call it on the hot path. */
  labels(labels: Labels<L>): S {
    for (const k of Object.keys(labels)) if (!this.labelNames.includes(k as L)) throw new Error(`Added label "${k}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      // In the order given, as prom-client prints them (the first call's order, for a series).
      const own = {} as Labels<L>;
      for (const k of Object.keys(labels) as L[]) own[k] = String(labels[k]);
      s = this.create(own);
      this.series.set(key, s);
    }
    return s;
  }

  reset(): void {
    this.series.clear();
  }

  protected abstract create(labels: Labels<L>): S;
}

class CounterSeries<L extends string> {
  value = 0;
  constructor(readonly labels: Labels<L>) {}
  inc(n = 1): void {
    if (!(n >= 0 && n < Infinity)) throw new Error(`It is not possible to decrease a counter or add a non-finite amount (${n})`);
    this.value += n;
  }
}

export class BoundCounter<L extends string> extends BoundMetric<L, CounterSeries<L>> {
  readonly type = 'counter' as const;

  protected create(labels: Labels<L>): CounterSeries<L> {
    return new CounterSeries(labels);
  }

  get() {
    const values = [...this.series.values()].map((s) => ({ value: s.value, labels: { ...s.labels } }));
    return Promise.resolve({ help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator });
  }
}

class HistogramSeries<L extends string> {
  /** Observations per bucket (not cumulative); the last counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels<L>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

export class BoundHistogram<L extends string> extends BoundMetric<L, HistogramSeries<L>> {
  readonly type = 'histogram' as const;
  readonly upperBounds: readonly number[];

  constructor(o: Options<L> & { buckets: readonly number[] }) {
    super(o);
    this.upperBounds = [...o.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels<L>): HistogramSeries<L> {
    return new HistogramSeries(labels, this.upperBounds);
  }

  get() {
    // Buckets carry exemplar: null as prom-client's do (no exemplars are kept).
    const values: { value: number; labels: Record<string, string | number>; metricName: string; exemplar?: null }[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ value: acc, labels: { le, ...s.labels }, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}
