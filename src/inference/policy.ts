import { z } from 'zod';
import { AppError } from '../lib/errors.js';
import type { ClassLabel, Task } from './contract.js';
import { compareDecisions, type DecisionDifference } from './decision-sets.js';
import type { Outcome } from './outcome.js';

const decisionName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'a decision is a short name such as act, none, allow, review, block');
const probability = z.number().min(0).max(1);

/**
 * A version's decision policy. Binary: threshold or bands on the score (a probability).
 * Regression: threshold or bands on the value, or `value` (the decision is always `value`; the
 * caller acts on the number). Multiclass: `label` (the decision is the class), `min_probability`
 * (the class when its probability reaches the minimum, else the fallback), `class_map`
 * (class → decision). Which kinds a task allows is checked by checkPolicy at register.
 */
export const policySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('threshold'),
    /** score >= threshold → `above`, else `below`. A probability for binary, any value for regression. */
    threshold: z.number().finite(),
    above: decisionName.default('act'),
    below: decisionName.default('none'),
  }),
  z.object({
    type: z.literal('bands'),
    /** Ordered; a score goes to the first band whose `below` it is under; the last band has none. */
    bands: z
      .array(z.object({ decision: decisionName, below: z.number().finite().nullable() }))
      .min(2)
      .refine((b) => b[b.length - 1].below === null && b.slice(0, -1).every((x) => x.below !== null), 'every band but the last needs an upper bound; the last has none')
      .refine((b) => b.slice(0, -1).every((x, i) => i === 0 || x.below! > b[i - 1].below!), 'band bounds must increase'),
  }),
  z.object({ type: z.literal('value'), decision: decisionName.default('value') }),
  z.object({ type: z.literal('label') }),
  z.object({
    type: z.literal('min_probability'),
    /** The minimum for every class not named in per_class. */
    min: probability,
    per_class: z.record(z.string(), probability).optional(),
    fallback: decisionName.default('review'),
  }),
  z.object({
    type: z.literal('class_map'),
    /** Class label (as text) → decision; classes left out take `default`. */
    decisions: z.record(z.string(), decisionName),
    default: decisionName.optional(),
  }),
]);

export type Policy = z.infer<typeof policySchema>;

export const DEFAULT_POLICY: Policy = { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' };

/** The policy a version gets when none is given. */
export function defaultPolicy(task: Task): Policy {
  if (task === 'multiclass') return { type: 'label' };
  if (task === 'regression') return { type: 'value', decision: 'value' };
  return DEFAULT_POLICY;
}

const KINDS: Record<Task, Policy['type'][]> = {
  binary: ['threshold', 'bands'],
  regression: ['threshold', 'bands', 'value'],
  multiclass: ['label', 'min_probability', 'class_map'],
};

/** Refuse a policy that cannot apply to this task or these classes, saying what would. */
export function checkPolicy(policy: Policy, task: Task, classes: ClassLabel[] = []): void {
  const fail = (why: string): never => {
    throw new AppError('BAD_REQUEST', `policy ${JSON.stringify(policy)}: ${why}`);
  };
  if (!KINDS[task].includes(policy.type)) fail(`a ${task} model takes a ${KINDS[task].join(', ')} policy`);
  if (task === 'binary') {
    const bounds = policy.type === 'threshold' ? [policy.threshold] : policy.type === 'bands' ? policy.bands.flatMap((b) => (b.below === null ? [] : [b.below])) : [];
    if (bounds.some((b) => b < 0 || b > 1)) fail('a binary model scores a probability: bounds are between 0 and 1');
  }
  if (task === 'multiclass') {
    const known = new Set(classes.map(String));
    const named = policy.type === 'min_probability' ? Object.keys(policy.per_class ?? {}) : policy.type === 'class_map' ? Object.keys(policy.decisions) : [];
    const unknown = named.filter((c) => !known.has(c));
    if (unknown.length) fail(`unknown class ${unknown.map((c) => JSON.stringify(c)).join(', ')}; the model's classes are ${[...known].map((c) => JSON.stringify(c)).join(', ')}`);
    if (policy.type === 'class_map' && policy.default === undefined && named.length < known.size) {
      fail(
        `classes ${[...known]
          .filter((c) => !(c in policy.decisions))
          .map((c) => JSON.stringify(c))
          .join(', ')} have no decision; map them or give a default (*:decision)`,
      );
    }
  }
}

/** Compile once per version: the request path only calls the returned function. */
export function compilePolicy(policy: Policy): (o: Outcome) => string {
  switch (policy.type) {
    case 'threshold': {
      const { threshold, above, below } = policy;
      return (o) => (o.score >= threshold ? above : below);
    }
    case 'bands': {
      const bounds = policy.bands.map((b) => b.below ?? Infinity);
      const names = policy.bands.map((b) => b.decision);
      return (o) => {
        for (let i = 0; i < bounds.length; i++) if (o.score < bounds[i]) return names[i];
        return names[names.length - 1];
      };
    }
    case 'value': {
      const d = policy.decision;
      return () => d;
    }
    case 'label':
      return (o) => String(o.label);
    case 'min_probability': {
      const per = new Map(Object.entries(policy.per_class ?? {}));
      const { min, fallback } = policy;
      return (o) => {
        const label = String(o.label);
        return o.score >= (per.get(label) ?? min) ? label : fallback;
      };
    }
    case 'class_map': {
      const map = new Map(Object.entries(policy.decisions));
      const fallback = policy.default;
      return (o) => {
        const label = String(o.label);
        return map.get(label) ?? fallback ?? label;
      };
    }
  }
}

/** One line a person reads: what each prediction becomes. */
export function describePolicy(p: Policy): string {
  switch (p.type) {
    case 'threshold':
      return p.above === p.below ? `${p.above} for every score` : `${p.above} when score >= ${p.threshold}, else ${p.below}`;
    case 'bands':
      return `bands ${p.bands.map((b) => `${b.decision}${b.below === null ? '' : ` < ${b.below}`}`).join(', ')}`;
    case 'value':
      return `the value itself (decision ${p.decision})`;
    case 'label':
      return 'the predicted class';
    case 'min_probability':
      return `the predicted class when its probability >= ${p.min}${
        p.per_class
          ? ` (${Object.entries(p.per_class)
              .map(([c, v]) => `${c} >= ${v}`)
              .join(', ')})`
          : ''
      }, else ${p.fallback}`;
    case 'class_map':
      return `by class: ${Object.entries(p.decisions)
        .map(([c, d]) => `${c} → ${d}`)
        .join(', ')}${p.default ? `, others → ${p.default}` : ''}`;
  }
}

/**
 * The decisions a policy gives, in its order: a threshold's below then above, bands low to high,
 * a value policy's one name; for a class policy, from the model's classes (undefined without
 * them): the classes, a min_probability's fallback after them, a class_map's mapped names.
 */
export function policyDecisions(p: Policy, classes?: readonly ClassLabel[]): string[] | undefined {
  if (p.type === 'threshold') return [...new Set([p.below, p.above])];
  if (p.type === 'bands') return [...new Set(p.bands.map((b) => b.decision))];
  if (p.type === 'value') return [p.decision];
  if (!classes) return undefined;
  const names = classes.map(String);
  if (p.type === 'label') return names;
  if (p.type === 'min_probability') return [...new Set([...names, p.fallback])];
  return [...new Set(names.map((c) => p.decisions[c] ?? p.default ?? c))];
}

/** Undefined when both decide the same things (in any order), or when either's decisions are unknown. */
export function decisionsDiffer(mine: Policy, theirs: Policy, mineClasses?: readonly ClassLabel[], theirClasses?: readonly ClassLabel[]): DecisionDifference | undefined {
  const a = policyDecisions(mine, mineClasses);
  const b = policyDecisions(theirs, theirClasses);
  return a && b ? compareDecisions(a, b) : undefined;
}

/** The `--policy` flag that gives this policy (threshold, bands, value), for a message that says what to run. */
export function policyFlag(p: Policy): string | undefined {
  if (p.type === 'threshold') return `threshold=${p.threshold}:${p.above}:${p.below}`;
  if (p.type === 'bands') return `bands=${p.bands.map((b) => (b.below === null ? b.decision : `${b.decision}:${b.below}`)).join(',')}`;
  if (p.type === 'value') return p.decision === 'value' ? 'value' : `value=${p.decision}`;
  return undefined;
}

const EXAMPLES =
  'threshold=0.5, threshold=0.4:block:allow, bands=allow:0.3,review:0.7,block (binary; regression bounds are values: bands=low:5000,mid:20000,high), value, label, min_probability=0.6:review, min_probability=France:0.7,*:0.5:review, class_map=France:retain,*:none';

/**
 * CLI form: `threshold=0.5`, `threshold=0.4:block:allow` (above:below names),
 * `bands=allow:0.3,review:0.7,block` (allow under 0.3, review under 0.7, block otherwise),
 * `value`, `label`, `min_probability=0.6[:fallback]`, `min_probability=A:0.7,*:0.5[:fallback]`,
 * `class_map=A:retain,B:review[,*:default]`. A class name is everything before the last colon.
 */
export function parsePolicyFlag(text: string): Policy {
  const eq = text.indexOf('=');
  const kind = eq < 0 ? text : text.slice(0, eq);
  const spec = eq < 0 ? '' : text.slice(eq + 1);
  const fail = (why: string): never => {
    throw new AppError('BAD_REQUEST', `--policy ${JSON.stringify(text)}: ${why}; examples: ${EXAMPLES}`);
  };
  const lastColon = (part: string): [string, string] => {
    const i = part.lastIndexOf(':');
    return i < 0 ? [part, ''] : [part.slice(0, i), part.slice(i + 1)];
  };
  let candidate: unknown;
  if (kind === 'value' || kind === 'label') {
    candidate = kind === 'value' && spec ? { type: 'value', decision: spec } : { type: kind };
  } else if (!spec) {
    return fail('expected kind=value');
  } else if (kind === 'threshold') {
    const [t, above, below] = spec.split(':');
    candidate = { type: 'threshold', threshold: Number(t), ...(above ? { above } : {}), ...(below ? { below } : {}) };
  } else if (kind === 'bands') {
    candidate = {
      type: 'bands',
      bands: spec.split(',').map((part) => {
        const [decision, below] = part.split(':');
        return { decision, below: below === undefined ? null : Number(below) };
      }),
    };
  } else if (kind === 'min_probability') {
    // An optional trailing ":fallback" (a decision name, not a number).
    let body = spec;
    let fallback: string | undefined;
    const [head, tail] = lastColon(spec);
    if (tail && !/^[0-9.]+$/.test(tail)) [body, fallback] = [head, tail];
    let min: number | undefined;
    const perClass: Record<string, number> = {};
    for (const part of body.split(',')) {
      const [cls, p] = lastColon(part);
      if (!p) min = Number(cls);
      else if (cls === '*') min = Number(p);
      else perClass[cls] = Number(p);
    }
    if (min === undefined) fail('give the minimum for the other classes too (a bare number or *:p)');
    candidate = { type: 'min_probability', min, ...(Object.keys(perClass).length ? { per_class: perClass } : {}), ...(fallback ? { fallback } : {}) };
  } else if (kind === 'class_map') {
    const decisions: Record<string, string> = {};
    let dflt: string | undefined;
    for (const part of spec.split(',')) {
      const [cls, decision] = lastColon(part);
      if (!cls || !decision) fail(`"${part}" is not class:decision`);
      if (cls === '*') dflt = decision;
      else decisions[cls] = decision;
    }
    candidate = { type: 'class_map', decisions, ...(dflt ? { default: dflt } : {}) };
  } else {
    fail(`unknown policy kind "${kind}"`);
  }
  const parsed = policySchema.safeParse(candidate);
  if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`).join('; '));
  return parsed.data!;
}

/** The decisions that count as acting: a threshold's `above`, or every band but the lowest; none for value and class policies. */
export function actionDecisions(policy: Policy): string[] {
  // A threshold deciding the same on both sides acts on nobody, as bands whose decisions are all the lowest's.
  if (policy.type === 'threshold') return policy.above === policy.below ? [] : [policy.above];
  if (policy.type === 'bands')
    return [
      ...new Set(
        policy.bands
          .slice(1)
          .map((b) => b.decision)
          .filter((d) => d !== policy.bands[0].decision),
      ),
    ];
  // A value or class policy has no single "act": its decisions are compared by their mix instead.
  return [];
}
