import { AppError } from '../lib/errors.js';
import { isNumberType, type Contract, type Feature } from './contract.js';

/** How a version's inputs differ from another's, as that version's clients meet them. */
export interface ContractChange {
  /** Features it takes that the other did not: requests made for the other lack them. */
  added: string[];
  /** Of those, the ones a request is refused without (400): an integer, a boolean, a string with no missing category. */
  refusedWhenMissing: string[];
  /** Features both take, as another kind of value (a number where a string was, …): requests made for the other are refused. */
  retyped: { name: string; from: string; to: string }[];
  features: number;
}

const kind = (t: string): string => (isNumberType(t) ? 'number' : t === 'bool' ? 'boolean' : 'string');

/** Whether a request without this feature is refused rather than scored with a missing value. */
const neededBy = (f: Feature, c: Contract): boolean => f.type === 'int64' || f.type === 'int32' || f.type === 'bool' || (f.type === 'string' && c.missing_category === undefined);

/**
 * What requests made for `from` meet in `to`: features they do not send, and features they send
 * as another kind of value. Undefined when every request `from` took is one `to` takes too
 * (features `to` no longer uses are ignored, and said in each reply's warnings).
 */
export function contractChange(to: Contract, from: Contract): ContractChange | undefined {
  const before = new Map(from.features.map((f) => [f.name, f]));
  const added = to.features.filter((f) => !before.has(f.name));
  const retyped = to.features.flatMap((f) => {
    const b = before.get(f.name);
    return b && kind(b.type) !== kind(f.type) ? [{ name: f.name, from: kind(b.type), to: kind(f.type) }] : [];
  });
  if (!added.length && !retyped.length) return undefined;
  return { added: added.map((f) => f.name), refusedWhenMissing: added.filter((f) => neededBy(f, to)).map((f) => f.name), retyped, features: to.features.length };
}

/**
 * Whether the version takes none of the other's features: every request made for the other is
 * refused or scored with all its features missing. A graph registered under the wrong model
 * name, almost always; promoting it or starting a canary of it asks for accept_new_inputs.
 */
export const takesNone = (c: ContractChange | undefined): boolean => c !== undefined && c.added.length === c.features;

/** Up to `n` names, then how many more. */
const some = (names: string[], n = 5): string => (names.length > n ? `${names.slice(0, n).join(', ')} and ${names.length - n} more` : names.join(', '));

/** The change in words: what happens to requests made for the version before (`before`, e.g. "version 3"). */
export function describeContractChange(c: ContractChange, before: string): string {
  const parts: string[] = [];
  if (c.added.length) {
    const refused = c.refusedWhenMissing;
    const scored = c.added.filter((n) => !refused.includes(n));
    const what =
      c.added.length === c.features
        ? `takes none of ${before}'s features (its ${c.features}: ${some(c.added)})`
        : `takes ${c.added.length === 1 ? 'a feature' : `${c.added.length} features`} ${before} did not (${some(c.added)})`;
    const outcome = !scored.length
      ? `are refused (400) without ${c.added.length === 1 ? 'it' : 'them'}`
      : !refused.length
        ? `are scored with ${c.added.length === 1 ? 'it as a missing value' : 'them as missing values'}`
        : `are refused (400) without ${some(refused, 3)}`;
    parts.push(`${what}: requests made for ${before} ${outcome}`);
  }
  if (c.retyped.length) parts.push(`takes ${some(c.retyped.map((r) => `${r.name} as a ${r.to} (${before}: a ${r.from})`))}: requests made for ${before} are refused (400)`);
  return parts.join('; it ');
}

/**
 * Refuses (409) moving `alias` to, or starting a canary of, a version whose contract `to` takes
 * none of the features of `from`, the contract of the version `alias` serves (takesNone); a
 * version sharing some of them passes. `outcome`: what stays as it was; `retry`: the same
 * action, to be asked for again with the flag.
 */
export function refuseTakingNone(to: Contract, from: Contract, o: { model: string; version: number; from: number; alias: string; outcome: string; retry: string }): void {
  const c = contractChange(to, from);
  if (!c || !takesNone(c)) return;
  throw new AppError(
    'CONFLICT',
    `version ${o.version} of ${o.model} ${describeContractChange(c, `version ${o.from}`)}; ${o.outcome}. Is ${o.model} the model you meant? Register the graph under its own model name; or, if ${o.alias}'s clients change their requests with it (sending both versions' features meanwhile: a field a version does not take is ignored), ${o.retry} with --accept-new-inputs (accept_new_inputs: true).`,
    { alias: o.alias, version: o.version, previous_version: o.from, field: 'accept_new_inputs' },
  );
}
