import { compilePolicy, type Policy } from '../inference/index.js';
import { actionDecisions, classification, confusion, f1FromCounts, profit, type OutcomeCosts } from '../monitoring/index.js';

/**
 * The decision threshold: with costs, the one that maximises realised profit on held-out rows;
 * without, the one that maximises F1. Candidates are every distinct score (and 1.01, never act).
 * The threshold returned lies midway between the lowest score acted on and the next lower one
 * (or 0): a threshold equal to a score decided its rows by the last digit, and the served graph
 * computes in float32, so a tree model's group of rows tied at that score (a fifth of them, in
 * one case) could be acted on in training and not in serving.
 */
export function chooseThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, costs?: OutcomeCosts): { threshold: number; objective: 'profit' | 'f1'; value: number } {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i];
  const neg = labels.length - pos;
  // Acting on nobody first, then on everyone at or above each distinct score, highest first.
  let tp = 0;
  let fp = 0;
  const value = (tpN: number, fpN: number) => (costs ? profit({ tp: tpN, fp: fpN, fn: pos - tpN, tn: neg - fpN }, costs) : f1FromCounts(tpN, fpN, pos - tpN));
  let best = { threshold: 1.01, value: value(0, 0) };
  for (let k = 0; k < order.length;) {
    const s = scores[order[k]];
    while (k < order.length && scores[order[k]] === s) {
      if (labels[order[k]]) tp++;
      else fp++;
      k++;
    }
    const v = value(tp, fp);
    // Ties keep the higher threshold: acting less for the same value.
    if (v > best.value + 1e-12) best = { threshold: (s + (k < order.length ? scores[order[k]] : 0)) / 2, value: v };
  }
  return { threshold: best.threshold, objective: costs ? 'profit' : 'f1', value: best.value };
}

/**
 * The threshold policy a choice gives. When acting on nobody won (costs under which no row
 * paid), a threshold of 1 would still act on a float32 score of exactly 1.0 (a logit above
 * about 17), so the policy decides none at every score, and the caution says why.
 */
export function chosenPolicy(
  choice: { threshold: number },
  costs?: OutcomeCosts,
  held?: { scores: ArrayLike<number>; labels: ArrayLike<number> },
): { policy: Extract<Policy, { type: 'threshold' }>; caution?: string } {
  if (choice.threshold <= 1) {
    const policy = { type: 'threshold' as const, threshold: choice.threshold, above: 'act', below: 'none' };
    return { policy, ...(held && actsOnAll(held.scores, choice.threshold) ? { caution: actingOnAll(held.labels, costs) } : {}) };
  }
  const text = costs
    ? ` with costs ${Object.entries(costs)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`
    : '';
  return {
    policy: { type: 'threshold', threshold: 1, above: 'none', below: 'none' },
    caution: `acting paid on none of the rows${text}, so the policy decides none at every score; acting on a positive row is worth tp − fn and on a negative one fp − tn: check the signs in --cost`,
  };
}

function actsOnAll(scores: ArrayLike<number>, threshold: number): boolean {
  for (let i = 0; i < scores.length; i++) if (scores[i] < threshold) return false;
  return scores.length > 0;
}

/**
 * Why a threshold below every held-out score is no decision at all: F1 is highest acting on
 * everyone when most rows are positive (recall 1, precision the positive rate), and some costs
 * pay for every action. The model's scores then change nothing that is decided.
 */
function actingOnAll(labels: ArrayLike<number>, costs?: OutcomeCosts): string {
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i];
  const share = `${((100 * pos) / Math.max(1, labels.length)).toFixed(0)} %`;
  const why = costs ? `under these costs acting paid on every one (${share} of them positive)` : `${share} of them are positive, and F1 is highest acting on all (recall 1)`;
  return `the policy acts on every row its threshold was chosen on, so its decision does not depend on the score: ${why}; give --cost tp=…,fp=… to weigh a false alarm against a catch, or set a threshold on the version with modelgate policy set --threshold T`;
}

/** Figures of a chosen threshold that no row helped to choose. */
export interface CrossFitted {
  f1: number;
  precision: number;
  recall: number;
  /** Realised profit a row under the costs the threshold was chosen for. */
  profit_per_row?: number;
}

/**
 * F1, precision, recall (and profit a row, with costs) of choosing the threshold as training
 * does, measured on rows that did not choose it: the held-out rows are cut into two halves
 * (every other row of each class, in file order, so both keep the positive rate), each half is
 * decided at the threshold chosen on the other, and the two halves' counts are added. The same
 * figures at the threshold chosen on all the rows read higher than new rows will give: that
 * threshold is the best one for exactly those rows, so their noise counts in its favour. On the
 * bank and telco churn files (300 draws of held-out rows from one model's scores), F1 there read
 * 0.04–0.05 above what the same threshold gave on fresh rows with 200 held out, 0.01–0.02 with
 * 1,000; the cross-fitted figure read within 0.006 of fresh (a little below: a threshold chosen on
 * half the rows is a little worse). Monitoring's retrain_recommended compares live F1 with the
 * figure recorded here, so a flattered one recommends retraining a model that is as good as it was.
 */
export function crossFitted(scores: ArrayLike<number>, labels: ArrayLike<number>, costs?: OutcomeCosts): CrossFitted {
  const half = new Uint8Array(scores.length);
  const seen = [0, 0];
  for (let i = 0; i < scores.length; i++) half[i] = seen[labels[i] ? 1 : 0]++ % 2;
  const acted = new Uint8Array(scores.length);
  for (const h of [0, 1]) {
    const other = (i: number) => half[i] !== h;
    const idx = Array.from({ length: scores.length }, (_, i) => i).filter(other);
    const choice = chooseThreshold(
      idx.map((i) => scores[i]),
      idx.map((i) => labels[i]),
      costs,
    );
    const { policy } = chosenPolicy(choice, costs);
    const decide = compilePolicy(policy);
    const acting = new Set(actionDecisions(policy));
    for (let i = 0; i < scores.length; i++) if (!other(i) && acting.has(decide({ score: scores[i] }))) acted[i] = 1;
  }
  const c = confusion(acted, labels);
  return { ...classification(c), ...(costs ? { profit_per_row: scores.length ? profit(c, costs) / scores.length : NaN } : {}) };
}
