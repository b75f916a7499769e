import { quoted } from '../lib/quoted.js';
import type { Feature } from './contract.js';

/** Up to this many of a feature's categories are listed when none looks like what was sent. */
const LISTED = 10;

/** Case, spaces and punctuation aside: "two-year" and "Two year" are the same to a reader. */
const loose = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

/** Per feature, rows with a category the version does not know, and the commonest such values with their rows. */
export type UnseenSummary = Record<string, { rows: number; values: Record<string, number> }>;

/** The feature's categories that differ from `value` only in case, spaces or punctuation, quoted. */
function likelyMeant(f: Feature | undefined, value: string): string | undefined {
  const v = loose(value);
  const meant = (f?.categories ?? []).filter((c) => loose(c) === v);
  return meant.length ? meant.map((c) => JSON.stringify(c)).join(' or ') : undefined;
}

/**
 * A category the version does not know is scored as an unseen one (what the graph's encoder
 * does with any other), so a typo changes the score without an error: the warning names the
 * value and the category that was likely meant, or the ones the version knows.
 */
export function unseenCategoryWarning(where: string, f: Feature, value: string, missingCategory?: string): string {
  const categories = f.categories ?? [];
  const meant = likelyMeant(f, value);
  // The category a missing value becomes (`train` records "") is sent as null, not as "": named so.
  const shown = (c: string) => (c === missingCategory ? 'null (a missing value)' : JSON.stringify(c));
  const known = meant
    ? `did you mean ${meant}? categories are matched exactly`
    : categories.length <= LISTED
      ? `it knows ${categories.map(shown).join(', ')}`
      : `it knows ${categories.length} categories, such as ${categories
          .filter((c) => c !== missingCategory)
          .slice(0, 3)
          .map(shown)
          .join(', ')}`;
  return `${where}.${f.name}: ${quoted(value)} is not a category this model version knows; scored as an unseen one (${known})`;
}

/** Distinct unseen values kept per feature (a free-text column could bring millions). */
const KEPT_VALUES = 20;

/** Rows per feature whose category the version does not know, with the most common such values, for a batch's summary. */
export class UnseenCategories {
  private readonly byFeature = new Map<string, { rows: number; values: Map<string, number> }>();

  add(feature: string, value: string): void {
    let e = this.byFeature.get(feature);
    if (!e) this.byFeature.set(feature, (e = { rows: 0, values: new Map() }));
    e.rows++;
    const n = e.values.get(value);
    if (n !== undefined) e.values.set(value, n + 1);
    else if (e.values.size < KEPT_VALUES) e.values.set(value, 1);
  }

  /** feature → {rows, values: the most common unseen values with their rows (up to 20 kept)}. */
  summary(): UnseenSummary {
    return Object.fromEntries([...this.byFeature].map(([f, e]) => [f, { rows: e.rows, values: Object.fromEntries([...e.values].sort((a, b) => b[1] - a[1])) }]));
  }

  /** One line for people: each feature's rows and its commonest values, with the category likely meant. */
  note(features: readonly Feature[]): string | undefined {
    if (this.byFeature.size === 0) return undefined;
    const parts = [...this.byFeature].map(([name, e]) => {
      const f = features.find((x) => x.name === name);
      const top = [...e.values]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([v, n]) => {
          const meant = likelyMeant(f, v);
          return `${quoted(v)} ${n.toLocaleString('en-US')}${meant ? `, did you mean ${meant}?` : ''}`;
        });
      return `${name} in ${e.rows.toLocaleString('en-US')} row${e.rows === 1 ? '' : 's'} (${top.join('; ')}${e.values.size > 3 ? '; …' : ''})`;
    });
    return `categories this version does not know, scored as unseen ones: ${parts.join(', ')}`;
  }
}
