import { actionDecisions, type Policy } from '../inference/index.js';
import { cleanCategory } from '../lib/missing.js';
import { REFERENCE_FORMAT, type FeatureProfile, type ReferenceProfile } from '../registry/index.js';
import { binOf, quantileEdges } from './statistics.js';

/** Bins per numeric feature and for the score. */
export const FEATURE_BINS = 10;
export const SCORE_BINS = 10;
/** Categories kept by name; rarer ones share the "other" bucket. */
export const MAX_CATEGORIES = 30;
/**
 * Of the rarer ones, how many are still named (in `more`, without counts): serving then knows a
 * value the version saw in its data from a typo, though its graph may score it as an unseen one.
 */
export const MAX_MORE_CATEGORIES = 1000;
/** And at most this many characters of them a feature: a column of long texts would otherwise swell every manifest. */
export const MAX_MORE_CHARS = 32_000;

/** Numeric for number-typed contract features, categorical for strings and booleans. */
export type FeatureKind = 'numeric' | 'categorical';
export const kindOf = (contractType: string): FeatureKind => (contractType === 'string' || contractType === 'bool' ? 'categorical' : 'numeric');

/** The decisions that count as acting (the policy's own property; kept here for monitoring's callers). */
export { actionDecisions };

/** A payload value as a number, or undefined when missing (null, blank, NaN, unparseable). */
export function numericValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** A payload value as a category, or undefined when missing. */
export function categoryValue(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number' && !Number.isFinite(v)) return undefined;
  const s = String(v);
  return s === '' ? undefined : s;
}

export interface ReferenceInput {
  features: { name: string; kind: FeatureKind; values: ArrayLike<unknown> }[];
  scores: ArrayLike<number>;
  decisions: readonly string[];
  policy: Policy;
  labels?: ArrayLike<number>;
  metrics?: Record<string, number>;
  /** Multiclass: the model's classes and the class predicted for each row. */
  classes?: { labels: readonly string[]; predicted: readonly string[] };
}

/** How often each class was predicted, in the model's class order. */
export function classMix(labels: readonly string[], predicted: Iterable<string>): { labels: string[]; counts: number[] } {
  const index = new Map(labels.map((c, i) => [c, i]));
  const counts = new Array<number>(labels.length).fill(0);
  for (const p of predicted) {
    const i = index.get(p);
    if (i !== undefined) counts[i]++;
  }
  return { labels: [...labels], counts };
}

/** Build a profile from reference rows (column by column) and the model's scores for them. */
export function buildReference(input: ReferenceInput): ReferenceProfile {
  const rows = input.scores.length;
  if (rows === 0) throw new Error('a reference profile needs at least one row');
  const features: ReferenceProfile['features'] = {};
  for (const f of input.features) {
    if (f.kind === 'numeric') {
      const nums: number[] = [];
      let missing = 0;
      for (let i = 0; i < f.values.length; i++) {
        const v = numericValue(f.values[i]);
        if (v === undefined) missing++;
        else nums.push(v);
      }
      const edges = quantileEdges(nums, FEATURE_BINS);
      const counts = new Array(edges.length + 1).fill(0);
      for (const v of nums) counts[binOf(v, edges)]++;
      features[f.name] = { type: 'numeric', edges, counts, missing };
    } else {
      const freq = new Map<string, number>();
      let missing = 0;
      for (let i = 0; i < f.values.length; i++) {
        const v = categoryValue(f.values[i]);
        if (v === undefined) missing++;
        else freq.set(v, (freq.get(v) ?? 0) + 1);
      }
      const sorted = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      const top = sorted.slice(0, MAX_CATEGORIES);
      const more: string[] = [];
      let chars = 0;
      for (const [c] of sorted.slice(MAX_CATEGORIES, MAX_CATEGORIES + MAX_MORE_CATEGORIES)) {
        if ((chars += c.length) > MAX_MORE_CHARS) break;
        more.push(c);
      }
      const kept = top.reduce((s, [, n]) => s + n, 0);
      features[f.name] = {
        type: 'categorical',
        categories: top.map(([c]) => c),
        counts: top.map(([, n]) => n),
        other: f.values.length - missing - kept,
        missing,
        ...(more.length ? { more } : {}),
      };
    }
  }
  const scoreEdges = quantileEdges(input.scores, SCORE_BINS);
  const scoreCounts = new Array(scoreEdges.length + 1).fill(0);
  for (let i = 0; i < rows; i++) scoreCounts[binOf(input.scores[i], scoreEdges)]++;
  const acting = new Set(actionDecisions(input.policy));
  let labelled = 0;
  if (input.labels) for (let i = 0; i < input.labels.length; i++) labelled += input.labels[i] ? 1 : 0;
  return {
    format: REFERENCE_FORMAT,
    rows,
    features,
    score: { edges: scoreEdges, counts: scoreCounts },
    positive_rate: input.labels && input.labels.length ? labelled / input.labels.length : null,
    action_rate: input.decisions.filter((d) => acting.has(d)).length / rows,
    ...(input.classes ? { classes: classMix(input.classes.labels, input.classes.predicted) } : {}),
    ...(input.metrics ? { metrics: input.metrics } : {}),
  };
}

/** Live values binned like a reference feature: counts per bin (categorical: per category, then other). */
export class FeatureAccumulator {
  readonly counts: number[];
  missing = 0;
  seen = 0;
  /** Categorical only: values not in the reference, with how often they came (at most 50 kept). */
  readonly unseen = new Map<string, number>();
  private readonly index: Map<string, number> | undefined;
  /** The reference's rarer categories (binned as other, as the reference counted them): not unseen. */
  private readonly more: Set<string> | undefined;

  /** asTrained: the version reads its string features as its trainer did (contract cell_reading), so the window is binned the same way. */
  constructor(
    readonly profile: FeatureProfile,
    private readonly asTrained = false,
  ) {
    if (profile.type === 'numeric') this.counts = new Array(profile.edges.length + 1).fill(0);
    else {
      this.counts = new Array(profile.categories.length + 1).fill(0);
      this.index = new Map(profile.categories.map((c, i) => [c, i]));
      if (profile.more?.length) this.more = new Set(profile.more);
    }
  }

  add(raw: unknown): void {
    this.seen++;
    if (this.profile.type === 'numeric') {
      const v = numericValue(raw);
      if (v === undefined) this.missing++;
      else this.counts[binOf(v, this.profile.edges)]++;
      return;
    }
    const c = this.asTrained && typeof raw === 'string' ? (cleanCategory(raw) ?? undefined) : categoryValue(raw);
    if (c === undefined) {
      this.missing++;
      return;
    }
    const i = this.index!.get(c);
    if (i !== undefined) this.counts[i]++;
    else {
      this.counts[this.counts.length - 1]++;
      if (this.more?.has(c)) return;
      if (this.unseen.has(c) || this.unseen.size < 50) this.unseen.set(c, (this.unseen.get(c) ?? 0) + 1);
    }
  }
}

/** The reference's own counts in the accumulator's bin order (categorical: categories, then other). */
export function referenceCounts(p: FeatureProfile): number[] {
  return p.type === 'numeric' ? p.counts : [...p.counts, p.other];
}
