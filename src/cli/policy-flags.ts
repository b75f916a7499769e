import { AppError } from '../lib/errors.js';
import { policySchema, type Policy } from '../inference/index.js';
import type { Costs } from '../training/train.js';

/** tp=0,fp=-20,fn=-100,tn=0: the value of each outcome; outcomes left out are worth 0. */
export function parseCosts(text: string): Costs {
  const costs: Costs = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const part of text.split(',')) {
    const m = /^\s*(tp|fp|fn|tn)\s*=\s*(-?[0-9]+(\.[0-9]+)?)\s*$/.exec(part);
    if (!m) throw new AppError('BAD_REQUEST', `--cost ${JSON.stringify(text)}: expected outcome=value pairs such as tp=0,fp=-20,fn=-100,tn=0`);
    costs[m[1] as keyof Costs] = Number(m[2]);
  }
  if (costs.tp - costs.fn === 0 && costs.fp - costs.tn === 0)
    throw new AppError('BAD_REQUEST', `--cost ${JSON.stringify(text)}: acting and not acting are worth the same for every row, so no threshold is better than another; give costs that differ`);
  return costs;
}

/**
 * `review=0.3,block=0.7`: each decision from its lower bound up; below the first bound the
 * decision is `allow`. Gives a bands policy (allow / review / block).
 */
export function parseBands(text: string): Policy {
  const parts = text.split(',').map((p) => {
    const m = /^\s*([A-Za-z][A-Za-z0-9_-]{0,31})\s*=\s*(0(\.[0-9]+)?|1(\.0+)?)\s*$/.exec(p);
    if (!m) throw new AppError('BAD_REQUEST', `--bands ${JSON.stringify(text)}: expected decision=lower-bound pairs such as review=0.3,block=0.7`);
    return { decision: m[1], from: Number(m[2]) };
  });
  parts.sort((a, b) => a.from - b.from);
  if (parts.some((p, i) => i > 0 && p.from === parts[i - 1].from) || parts[0].from <= 0)
    throw new AppError('BAD_REQUEST', `--bands ${JSON.stringify(text)}: bounds must be distinct and above 0 (scores below the first one are allow)`);
  const bands = [{ decision: 'allow', below: parts[0].from as number | null }, ...parts.map((p, i) => ({ decision: p.decision, below: i + 1 < parts.length ? parts[i + 1].from : null }))];
  const parsed = policySchema.safeParse({ type: 'bands', bands });
  if (!parsed.success) throw new AppError('BAD_REQUEST', `--bands ${JSON.stringify(text)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}
