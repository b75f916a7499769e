import { z } from 'zod';
import { AppError } from '../lib/errors.js';

const decisionName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'a decision is a short name such as act, none, allow, review, block');

export const policySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('threshold'),
    /** score >= threshold → `above`, else `below`. */
    threshold: z.number().min(0).max(1),
    above: decisionName.default('act'),
    below: decisionName.default('none'),
  }),
  z.object({
    type: z.literal('bands'),
    /** Ordered; a score goes to the first band whose `below` it is under; the last band has none. */
    bands: z
      .array(z.object({ decision: decisionName, below: z.number().min(0).max(1).nullable() }))
      .min(2)
      .refine((b) => b[b.length - 1].below === null && b.slice(0, -1).every((x) => x.below !== null), 'every band but the last needs an upper bound; the last has none')
      .refine((b) => b.slice(0, -1).every((x, i) => i === 0 || x.below! > b[i - 1].below!), 'band bounds must increase'),
  }),
]);

export type Policy = z.infer<typeof policySchema>;

export const DEFAULT_POLICY: Policy = { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' };

/** Compile once per version: the request path only calls the returned function. */
export function compilePolicy(policy: Policy): (score: number) => string {
  if (policy.type === 'threshold') {
    const { threshold, above, below } = policy;
    return (score) => (score >= threshold ? above : below);
  }
  const bounds = policy.bands.map((b) => b.below ?? Infinity);
  const names = policy.bands.map((b) => b.decision);
  return (score) => {
    for (let i = 0; i < bounds.length; i++) if (score < bounds[i]) return names[i];
    return names[names.length - 1];
  };
}

/**
 * CLI form: `threshold=0.5`, `threshold=0.4:block:allow` (above:below names), or
 * `bands=allow:0.3,review:0.7,block` (allow under 0.3, review under 0.7, block otherwise).
 */
export function parsePolicyFlag(text: string): Policy {
  const [kind, spec] = text.split('=', 2);
  const fail = (why: string): never => {
    throw new AppError('BAD_REQUEST', `--policy ${JSON.stringify(text)}: ${why}; examples: threshold=0.5, threshold=0.4:block:allow, bands=allow:0.3,review:0.7,block`);
  };
  if (!spec) fail('expected kind=value');
  let candidate: unknown;
  if (kind === 'threshold') {
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
  } else {
    fail(`unknown policy kind "${kind}"`);
  }
  const parsed = policySchema.safeParse(candidate);
  if (!parsed.success) fail(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data!;
}
