import { histogramQuantile, psi } from '../monitoring/index.js';

export type Arm = 'production' | 'canary' | 'shadow';

/** Latency bin upper bounds in milliseconds; one more bin holds everything slower. */
export const LATENCY_BOUNDS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000];
export const SCORE_BINS = 20;

export interface ArmCounts {
  requests: number;
  /** Requests answered from the prediction cache: counted in requests, decisions and scores, never in latency or errors. */
  cache_hits: number;
  errors: number;
  latency: number[];
  decisions: Record<string, number>;
  scores: number[];
  /** Sum of the scores of successful requests (a regression model's values too): the exact mean. */
  score_sum: number;
  /**
   * Shadow only: requests compared with production; those that agreed (on the decision, or on
   * the class for a multiclass model); summed |Δscore| (for a regression model, the relative
   * error |Δvalue| / |production value|).
   */
  compared: number;
  agreed: number;
  abs_diff: number;
}

export const emptyCounts = (): ArmCounts => ({
  requests: 0,
  cache_hits: 0,
  errors: 0,
  latency: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0),
  decisions: {},
  scores: new Array(SCORE_BINS).fill(0),
  score_sum: 0,
  compared: 0,
  agreed: 0,
  abs_diff: 0,
});

export function latencyBin(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]) return i;
  return LATENCY_BOUNDS_MS.length;
}

export const scoreBin = (score: number) => Math.min(SCORE_BINS - 1, Math.max(0, Math.floor(score * SCORE_BINS)));

export function addCounts(into: ArmCounts, from: ArmCounts): ArmCounts {
  into.requests += from.requests;
  into.cache_hits += from.cache_hits;
  into.errors += from.errors;
  from.latency.forEach((v, i) => (into.latency[i] += v));
  from.scores.forEach((v, i) => (into.scores[i] += v));
  into.score_sum += from.score_sum;
  for (const [d, n] of Object.entries(from.decisions)) into.decisions[d] = (into.decisions[d] ?? 0) + n;
  into.compared += from.compared;
  into.agreed += from.agreed;
  into.abs_diff += from.abs_diff;
  return into;
}

/**
 * Per-process accumulators keyed by model, arm and version. Cheap to update on the request
 * path (array increments); drained into the database by the flusher so analysis sees every
 * replica.
 */
export class ArmRecorder {
  private current = new Map<string, { model: string; arm: Arm; version: number; counts: ArmCounts }>();

  private slot(model: string, arm: Arm, version: number) {
    const key = `${model}\u0000${arm}\u0000${version}`;
    let s = this.current.get(key);
    if (!s) {
      s = { model, arm, version, counts: emptyCounts() };
      this.current.set(key, s);
    }
    return s.counts;
  }

  success(model: string, arm: Arm, version: number, latencyMs: number, score: number, decision: string, cached: boolean): void {
    const c = this.slot(model, arm, version);
    c.requests++;
    // A cache hit's latency is the cache's, not the model's: comparing arms on it would judge
    // a canary by how warm its cache is.
    if (cached) c.cache_hits++;
    else c.latency[latencyBin(latencyMs)]++;
    c.scores[scoreBin(score)]++;
    c.score_sum += score;
    c.decisions[decision] = (c.decisions[decision] ?? 0) + 1;
  }

  failure(model: string, arm: Arm, version: number, latencyMs: number): void {
    const c = this.slot(model, arm, version);
    c.requests++;
    c.errors++;
    c.latency[latencyBin(latencyMs)]++;
  }

  comparison(model: string, version: number, agreed: boolean, absDiff: number): void {
    const c = this.slot(model, 'shadow', version);
    c.compared++;
    if (agreed) c.agreed++;
    c.abs_diff += absDiff;
  }

  /** Add counts back (a flush that failed), so nothing recorded is lost. */
  merge(r: { model: string; arm: Arm; version: number; counts: ArmCounts }): void {
    addCounts(this.slot(r.model, r.arm, r.version), r.counts);
  }

  /** Take everything recorded since the last drain. */
  drain(): { model: string; arm: Arm; version: number; counts: ArmCounts }[] {
    const out = [...this.current.values()];
    this.current = new Map();
    return out;
  }
}

export interface ArmSummary {
  version: number | null;
  requests: number;
  /** Requests the model scored (or failed on): what latency and error rate describe. */
  scored: number;
  cache_hits: number;
  errors: number;
  error_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
  decision_rates: Record<string, number>;
  mean_score: number | null;
}

export function summarize(version: number | null, c: ArmCounts): ArmSummary {
  const ok = c.requests - c.errors;
  const q = (p: number) => {
    const v = histogramQuantile(c.latency, LATENCY_BOUNDS_MS, p);
    return Number.isNaN(v) ? null : Math.round(v * 1000) / 1000;
  };
  const scored = c.requests - c.cache_hits;
  return {
    version,
    requests: c.requests,
    scored,
    cache_hits: c.cache_hits,
    errors: c.errors,
    error_rate: scored ? c.errors / scored : 0,
    p50_ms: q(0.5),
    p95_ms: q(0.95),
    decision_rates: Object.fromEntries(Object.entries(c.decisions).map(([d, n]) => [d, ok ? n / ok : 0])),
    mean_score: ok ? c.score_sum / ok : null,
  };
}

export const scorePsi = (a: ArmCounts, b: ArmCounts) => psi(a.scores, b.scores);
