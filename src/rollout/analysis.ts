import { z } from 'zod';
import type { Task } from '../inference/index.js';
import { AppError } from '../lib/errors.js';
import type { ArmOutcomes } from './outcomes.js';
import type { Evidence } from './describe-event.js';
import { histogramCountAbove, proportionStandardError, wilsonLower } from '../monitoring/index.js';
import { ERROR_RATE_FLOOR, P95_FLOOR_MS } from './describe-rules.js';
import { LATENCY_BOUNDS_MS, scorePsi, summarize, type ArmCounts, type ArmSummary } from './stats.js';

export const customRuleSchema = z.object({
  /** error_rate, p50_ms, p95_ms, mean_score, score_psi, decision_rate:<decision>, or outcome:<accuracy|false_positive_rate|roc_auc|mae> (canary arm). */
  metric: z
    .string()
    .regex(
      /^(error_rate|p50_ms|p95_ms|mean_score|score_psi|decision_rate:[A-Za-z0-9_-]+|outcome:(accuracy|false_positive_rate|roc_auc|mae))$/,
      'metric must be error_rate, p50_ms, p95_ms, mean_score, score_psi, decision_rate:<decision> or outcome:accuracy|false_positive_rate|roc_auc|mae',
    ),
  op: z.enum(['>', '>=', '<', '<=']),
  threshold: z.number(),
});

type CustomRule = z.infer<typeof customRuleSchema>;

export const analysisSchema = z.object({
  max_error_ratio: z.number().positive().default(1.5),
  max_p95_ratio: z.number().positive().default(1.3),
  max_decision_rate_delta_pp: z.number().positive().optional(),
  max_score_psi: z.number().positive().optional(),
  custom: z.array(customRuleSchema).max(20).optional(),
  /** Model-scored requests (cache hits excluded) each arm needs in the window before any automatic decision; default CANARY_MIN_SCORED. */
  min_scored_per_arm: z.number().int().positive().optional(),
  /**
   * Judge the canary on real outcomes too (feedback joined to each arm's predictions since the
   * canary started): checked once both arms have min_labels_per_arm labelled predictions, and
   * the canary does not step or promote before.
   */
  outcomes: z
    .object({
      min_labels_per_arm: z.number().int().positive().default(100),
      /** Binary: canary false-positive rate within ± this many percentage points of production's. */
      max_fpr_delta_pp: z.number().positive().optional(),
      /** Binary and multiclass: canary accuracy at most this many points below production's. */
      max_accuracy_drop_pp: z.number().positive().optional(),
      /** Binary: canary ROC AUC at most this far below production's. */
      max_auc_drop: z.number().positive().optional(),
      /** Regression: canary MAE at most this many times production's. */
      max_mae_ratio: z.number().positive().optional(),
    })
    .optional(),
});
export type AnalysisRules = z.infer<typeof analysisSchema>;

/**
 * Standard errors by which a rule must be broken before it rolls a canary back (one-sided
 * 99.9 %: scipy.stats.norm.ppf(0.999)); broken by less, it holds the canary at its step. For
 * latency, the canary's share of requests slower than its p95 limit must clear 5 % by this
 * much: on a busy server a p95 is set by a few event-loop stalls, and over a few hundred
 * requests a 36-tree GBDT canary against a logistic regression, both a few µs a row, read up
 * to 1.4 × production's p95 and was rolled back in 2 starts of 7 (two replicas on the 2-core
 * development machine). For outcomes and decision rates, the difference from the threshold:
 * 240 labelled canary predictions put a false-positive rate 4 points either way by chance, and
 * a 5-point band rolled back a canary whose rate was 8 points lower. The analysis pass looks
 * again every interval, so the bound is strict.
 */
export const EVIDENCE_Z = 3.090232306167813;

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface Check {
  metric: string;
  observed: number;
  threshold: number;
  passed: boolean;
  detail: string;
}

/**
 * A rule's check, weighed by chance: it fails only when `excess` — how far the observed value
 * is past its threshold, in the metric's units — is more than EVIDENCE_Z standard errors; past
 * it by less, it passes but adds to `holds` why the canary waits. Without a standard error the
 * threshold alone decides.
 */
function weighed(check: Omit<Check, 'passed'>, excess: number, se: number | null, holds: string[], waiting: string): Check {
  const past = excess > 0;
  const shown = past && (se === null || excess > EVIDENCE_Z * se);
  if (past && !shown) holds.push(`${waiting}, within what chance gives over these counts (${EVIDENCE_Z.toFixed(2)} standard errors: ${fmt(EVIDENCE_Z * se!)}); waiting for more`);
  return { ...check, passed: !shown };
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : Number(x.toPrecision(3)).toString());

export interface Verdict {
  status: 'insufficient_data' | 'healthy' | 'failing';
  /** With insufficient_data: what is missing, in words. */
  reason?: string;
  checks: Check[];
  /** The first failing check: what triggers a rollback. */
  failed?: Check;
  production: ArmSummary;
  canary: ArmSummary;
  score_psi: number | null;
  /** Per-arm outcome metrics from feedback, when the model's feedback was read. */
  outcomes?: { production: ArmOutcomes; canary: ArmOutcomes; judged: boolean; reason?: string };
}

export function verdictEvidence(v: Verdict): Evidence {
  const arm = (a: ArmSummary, labelled: number | undefined) => ({
    requests: a.requests,
    scored: a.scored,
    error_rate: a.error_rate,
    p95_ms: a.p95_ms,
    ...(labelled !== undefined ? { labelled } : {}),
  });
  return {
    production: arm(v.production, v.outcomes?.production.labelled),
    canary: arm(v.canary, v.outcomes?.canary.labelled),
    checks: v.checks.map((c) => ({ metric: c.metric, observed: c.observed, threshold: c.threshold })),
  };
}

/** The outcome metric each rule relative to production compares. */
const RELATIVE_RULES = {
  max_fpr_delta_pp: 'false_positive_rate',
  max_accuracy_drop_pp: 'accuracy',
  max_auc_drop: 'roc_auc',
  max_mae_ratio: 'mae',
} as const;
type RelativeRule = keyof typeof RELATIVE_RULES;
type OutcomeMetric = (typeof RELATIVE_RULES)[RelativeRule];

/** The tasks whose feedback gives each outcome metric. */
const METRIC_TASKS: Record<OutcomeMetric, Task[]> = { accuracy: ['binary', 'multiclass'], false_positive_rate: ['binary'], roc_auc: ['binary'], mae: ['regression'] };
const METRIC_WORDS: Record<OutcomeMetric, string> = { accuracy: 'accuracy', false_positive_rate: 'false-positive rate', roc_auc: 'ROC AUC', mae: 'MAE' };
/** Why labels may still leave a metric unknown. */
const METRIC_NEEDS: Partial<Record<OutcomeMetric, string>> = { roc_auc: 'both outcomes among its labels', false_positive_rate: 'labelled negatives' };

const relativeRules = (o: AnalysisRules['outcomes']): RelativeRule[] => (o ? (Object.keys(RELATIVE_RULES) as RelativeRule[]).filter((k) => o[k] !== undefined) : []);
const customOutcomeRules = (rules: AnalysisRules) => (rules.custom ?? []).filter((r) => r.metric.startsWith('outcome:'));
const metricOf = (rule: CustomRule) => rule.metric.slice('outcome:'.length) as OutcomeMetric;

/** A rule as the API and the CLI name it. */
const ruleName = (k: RelativeRule) => `outcomes.${k} (--${k.replaceAll('_', '-')})`;

/**
 * Refuse outcome rules a canary could never check, since such a rule holds the canary at its
 * step: a metric its task's feedback does not give (an MAE rule on a binary model), or a rule
 * relative to production on a canary that starts at 100 %, where production serves nothing
 * during the rollout to compare with.
 */
export function checkOutcomeRules(rules: AnalysisRules, task: Task, startPercent: number): void {
  const used: [string, OutcomeMetric][] = [
    ...relativeRules(rules.outcomes).map((k): [string, OutcomeMetric] => [ruleName(k), RELATIVE_RULES[k]]),
    ...customOutcomeRules(rules).map((r): [string, OutcomeMetric] => [`custom rule ${r.metric}`, metricOf(r)]),
  ];
  for (const [name, metric] of used) {
    if (METRIC_TASKS[metric].includes(task)) continue;
    const fitting = (Object.keys(RELATIVE_RULES) as RelativeRule[]).filter((k) => METRIC_TASKS[RELATIVE_RULES[k]].includes(task));
    throw new AppError(
      'VALIDATION_FAILED',
      `analysis: ${name} needs ${METRIC_WORDS[metric]}, which feedback gives only for ${METRIC_TASKS[metric].join(' and ')} models, and the canary is a ${task} model; its outcome rules are ${fitting.map(ruleName).join(', ')}`,
      { field: 'analysis' },
    );
  }
  if (startPercent >= 100 && relativeRules(rules.outcomes).length) {
    throw new AppError(
      'VALIDATION_FAILED',
      `analysis.outcomes: rules relative to production compare with production's labelled predictions during the rollout, and a canary that starts at 100 % leaves production none; start lower (for example steps 50,100) or leave the outcome rules out`,
      { field: 'analysis' },
    );
  }
}

/**
 * Compare the canary arm with production over the same window. Rules are relative to
 * production, so a slow day or a noisy dependency moves both arms and fires nothing. Latency
 * and errors are those of model-scored requests only: cache hits say nothing of the model, and
 * the arms' caches are not equally warm. No decision is taken until both arms have
 * `minScored` scored requests, except by an outcome rule, which waits for its labels instead.
 * A canary with outcome rules is not healthy (so neither steps nor promotes) until they have
 * been checked.
 */
export function analyse(
  prod: { version: number | null; counts: ArmCounts },
  canary: { version: number | null; counts: ArmCounts },
  rules: AnalysisRules,
  opts: {
    minRequests: number;
    minScored: number;
    /** At 100 the production arm has no traffic to compare with; default 50. */
    canaryPercent?: number;
    /** A regression model's values do not fit the probability bins: no score PSI. */
    task?: Task;
    /** Each arm's outcome metrics from feedback over the rollout. */
    outcomes?: { production: ArmOutcomes; canary: ArmOutcomes };
  },
): Verdict {
  const { minRequests, minScored } = opts;
  const alone = (opts.canaryPercent ?? 50) >= 100;
  const p = summarize(prod.version, prod.counts);
  const c = summarize(canary.version, canary.counts);
  // At 100 % production's few late requests are no distribution to compare with.
  const psiValue =
    !alone && opts.task !== 'regression' && canary.counts.requests - canary.counts.errors > 0 && prod.counts.requests - prod.counts.errors > 0 ? scorePsi(prod.counts, canary.counts) : null;

  const relative = relativeRules(rules.outcomes);
  const customOutcome = customOutcomeRules(rules);
  // Rules relative to production need both arms' labels; a custom outcome threshold the canary's.
  const labelArms: ('production' | 'canary')[] = relative.length ? ['production', 'canary'] : customOutcome.length ? ['canary'] : [];
  const needLabels = rules.outcomes?.min_labels_per_arm ?? 100;
  const labelled = (a: 'production' | 'canary') => opts.outcomes?.[a].labelled ?? 0;
  const labelsShort = labelArms.filter((a) => labelled(a) < needLabels).map((a) => `${a} has ${labelled(a)} labelled predictions of the ${needLabels} needed`);
  const ready = labelArms.length > 0 && opts.outcomes !== undefined && labelsShort.length === 0;
  const o = ready ? opts.outcomes! : undefined;
  // Rules broken by less than chance would give hold the canary without a verdict either way.
  const holds: string[] = [];
  const relativeChecks = o ? outcomeChecks(rules.outcomes, o.production, o.canary, holds) : [];
  // A metric the labels do not give yet (ROC AUC while an arm's outcomes are all one class).
  const pending = o
    ? [
        ...relative.flatMap((k) => {
          const m = RELATIVE_RULES[k];
          const lacking = (['production', 'canary'] as const).filter((a) => o[a][m] === null);
          return lacking.length ? [`${k}: no ${METRIC_WORDS[m]} on ${lacking.join(' or ')} yet${METRIC_NEEDS[m] ? ` (it needs ${METRIC_NEEDS[m]})` : ''}`] : [];
        }),
        ...customOutcome
          .filter((r) => o.canary[metricOf(r)] === null)
          .map((r) => `${r.metric}: no ${METRIC_WORDS[metricOf(r)]} on the canary yet${METRIC_NEEDS[metricOf(r)] ? ` (it needs ${METRIC_NEEDS[metricOf(r)]})` : ''}`),
      ]
    : [];
  const waitReason = !labelArms.length
    ? undefined
    : !ready
      ? `outcome rules wait for feedback: ${labelsShort.join('; ')}${alone && labelArms.includes('production') ? ' (at 100 % production serves nothing new; its labels are those of its predictions since the canary started)' : ''}`
      : pending.length
        ? `outcome rules cannot be checked yet: ${pending.join('; ')}`
        : undefined;
  const outcomes = opts.outcomes ? { ...opts.outcomes, judged: ready && !pending.length, ...(waitReason ? { reason: waitReason } : {}) } : undefined;
  const base = { production: p, canary: c, score_psi: psiValue, ...(outcomes ? { outcomes } : {}) };

  const need = rules.min_scored_per_arm ?? minScored;
  const short: string[] = [];
  if (c.requests < minRequests) short.push(`canary has ${c.requests} requests of the ${minRequests} needed (min_requests)`);
  // At 100 % production's window holds only the requests answered before the step reached every replica: it is not waited for.
  const judged: [string, ArmSummary][] = alone
    ? [['canary', c]]
    : [
        ['canary', c],
        ['production', p],
      ];
  const lacking = judged.filter(([, a]) => a.scored < need);
  for (const [name, a] of lacking) short.push(`${name} has ${a.scored} model-scored requests of the ${need} needed per arm (${a.cache_hits} cache hits not counted)`);
  // Traffic that repeats rows the cache holds scores nothing: say how the arm gets its requests.
  if (lacking.some(([, a]) => a.cache_hits > a.scored))
    short.push("a cached answer says nothing of a version's latency or errors; rows new to the cache, or entries older than CACHE_TTL_MS, are scored");
  if (short.length) {
    // Outcome rules decide on their labels alone, not on model-scored requests: a cache hit
    // carries the version's own score, so its outcome judges the version too.
    const early = [...relativeChecks, ...customChecks(customOutcome, c, psiValue, o?.canary, holds)];
    const failedOutcome = early.find((x) => !x.passed);
    if (failedOutcome) return { status: 'failing', checks: early, failed: failedOutcome, ...base };
    return { status: 'insufficient_data', reason: `no automatic decision yet: ${[...short, ...holds, ...(waitReason ? [waitReason] : [])].join('; ')}`, checks: [], ...base };
  }

  const checks: Check[] = [];
  // At 100 % production's window holds only a few late requests (answered before every replica saw the step): the canary is judged against the floors alone.
  const prodErrorRate = alone ? 0 : p.error_rate;
  const errLimit = Math.max(prodErrorRate, ERROR_RATE_FLOOR) * rules.max_error_ratio;
  checks.push({
    metric: 'error_rate',
    observed: c.error_rate,
    threshold: errLimit,
    passed: c.error_rate <= errLimit,
    detail: alone
      ? `canary error rate ${(c.error_rate * 100).toFixed(2)}% > ${rules.max_error_ratio} × the ${ERROR_RATE_FLOOR * 100}% floor (of ${c.scored} model-scored requests; at 100 % production serves nothing to compare with)`
      : `canary error rate ${(c.error_rate * 100).toFixed(2)}% > ${rules.max_error_ratio} × production ${(p.error_rate * 100).toFixed(2)}% (of ${c.scored} and ${p.scored} model-scored requests)`,
  });
  if (!alone && c.p95_ms !== null && p.p95_ms !== null && p.scored >= need) {
    const limit = Math.max(p.p95_ms, P95_FLOOR_MS) * rules.max_p95_ratio;
    const timed = canary.counts.latency.reduce((a, b) => a + b, 0);
    const slower = histogramCountAbove(canary.counts.latency, LATENCY_BOUNDS_MS, limit);
    const over = c.p95_ms > limit;
    const shown = wilsonLower(slower, timed, EVIDENCE_Z) > 0.05;
    const share = `${Math.round(slower)} of its ${timed} model-scored requests (${((100 * slower) / timed).toFixed(1)} %) slower than ${round3(limit)} ms`;
    if (over && !shown)
      holds.push(
        `canary p95 ${c.p95_ms} ms is above ${rules.max_p95_ratio} × production's ${p.p95_ms} ms, but ${share} is not yet clearly more than the 5 % a p95 allows (a few stalls on a busy server move a p95); waiting for more requests`,
      );
    checks.push({
      metric: 'p95_ms',
      observed: c.p95_ms,
      threshold: limit,
      passed: !(over && shown),
      detail: `p95 ${c.p95_ms} ms > ${rules.max_p95_ratio} × ${p.p95_ms} ms (model-scored requests: canary ${c.scored}, production ${p.scored}; ${share})`,
    });
  }
  // At 100 % production decides nothing in the window: there is no rate to compare with.
  if (rules.max_decision_rate_delta_pp !== undefined && !alone) {
    const names = new Set([...Object.keys(p.decision_rates), ...Object.keys(c.decision_rates)]);
    const decided = (counts: ArmCounts) => counts.requests - counts.errors;
    // The decision whose difference is furthest past the band in standard errors, else the largest difference.
    let worst = { name: '', delta: 0, se: 0, z: -Infinity };
    for (const d of names) {
      const delta = Math.abs((c.decision_rates[d] ?? 0) - (p.decision_rates[d] ?? 0)) * 100;
      const se = 100 * Math.hypot(proportionStandardError(canary.counts.decisions[d] ?? 0, decided(canary.counts)), proportionStandardError(prod.counts.decisions[d] ?? 0, decided(prod.counts)));
      const z = (delta - rules.max_decision_rate_delta_pp) / se;
      if (z > worst.z || (z === worst.z && delta > worst.delta)) worst = { name: d, delta, se, z };
    }
    const which = worst.name ? ` (${worst.name})` : '';
    checks.push(
      weighed(
        {
          metric: `decision_rate_delta_pp${worst.name ? `:${worst.name}` : ''}`,
          observed: worst.delta,
          threshold: rules.max_decision_rate_delta_pp,
          detail: `largest decision-rate difference ${worst.delta.toFixed(2)} pp${which}`,
        },
        worst.delta - rules.max_decision_rate_delta_pp,
        Number.isFinite(worst.se) ? worst.se : null,
        holds,
        `decision rates${which} ${worst.delta.toFixed(2)} points apart, past the ${rules.max_decision_rate_delta_pp}-point band by ${fmt(worst.delta - rules.max_decision_rate_delta_pp)}`,
      ),
    );
  }
  if (rules.max_score_psi !== undefined && psiValue !== null) {
    checks.push({ metric: 'score_psi', observed: psiValue, threshold: rules.max_score_psi, passed: psiValue <= rules.max_score_psi, detail: `score PSI between arms ${psiValue.toFixed(4)}` });
  }
  checks.push(...relativeChecks, ...customChecks(rules.custom ?? [], c, psiValue, o?.canary, holds));
  const failed = checks.find((x) => !x.passed);
  if (failed) return { status: 'failing', checks, failed, ...base };
  // Until its outcome rules have been checked and its latency is clear, a canary neither steps nor promotes.
  if (waitReason || holds.length) return { status: 'insufficient_data', reason: `no automatic decision yet: ${[...holds, ...(waitReason ? [waitReason] : [])].join('; ')}`, checks, ...base };
  return { status: 'healthy', checks, ...base };
}

/**
 * The outcome rules relative to production as checks, each left out while its metric is missing
 * on either arm (e.g. AUC with one class), each weighed by the two arms' standard errors.
 */
function outcomeChecks(r: AnalysisRules['outcomes'], p: ArmOutcomes, c: ArmOutcomes, holds: string[]): Check[] {
  if (!r) return [];
  const checks: Check[] = [];
  const of = `(feedback on ${c.labelled} canary and ${p.labelled} production predictions)`;
  /** Standard error of a difference between the arms, or null when either arm has none. */
  const diffSe = (m: OutcomeMetric, scale = 1, prodScale = 1) => {
    const sc = c.standard_errors[m];
    const sp = p.standard_errors[m];
    return sc === null || sp === null ? null : Math.hypot(sc * scale, sp * prodScale);
  };
  /** A rule past its threshold by `excess` (in the metric's units), weighed by the difference's standard error. */
  const add = (metric: string, observed: number, threshold: number, excess: number, se: number | null, detail: string, gap: string) =>
    checks.push(weighed({ metric, observed, threshold, detail }, excess, se, holds, `${detail}, ${gap}`));
  if (r.max_fpr_delta_pp !== undefined && p.false_positive_rate !== null && c.false_positive_rate !== null) {
    const delta = Math.abs(c.false_positive_rate - p.false_positive_rate) * 100;
    const excess = delta - r.max_fpr_delta_pp;
    const detail = `false-positive rate ${(c.false_positive_rate * 100).toFixed(2)}% on the canary vs ${(p.false_positive_rate * 100).toFixed(2)}% on production: ${delta.toFixed(2)} points apart ${of}`;
    add('outcome_fpr_delta_pp', delta, r.max_fpr_delta_pp, excess, diffSe('false_positive_rate', 100, 100), detail, `past the ${r.max_fpr_delta_pp}-point band by ${fmt(excess)}`);
  }
  if (r.max_accuracy_drop_pp !== undefined && p.accuracy !== null && c.accuracy !== null) {
    const drop = (p.accuracy - c.accuracy) * 100;
    const excess = drop - r.max_accuracy_drop_pp;
    const detail = `accuracy ${(c.accuracy * 100).toFixed(2)}% on the canary vs ${(p.accuracy * 100).toFixed(2)}% on production ${of}`;
    add('outcome_accuracy_drop_pp', drop, r.max_accuracy_drop_pp, excess, diffSe('accuracy', 100, 100), detail, `a drop past the allowed ${r.max_accuracy_drop_pp} points by ${fmt(excess)}`);
  }
  if (r.max_auc_drop !== undefined && p.roc_auc !== null && c.roc_auc !== null) {
    const drop = p.roc_auc - c.roc_auc;
    const excess = drop - r.max_auc_drop;
    add(
      'outcome_auc_drop',
      drop,
      r.max_auc_drop,
      excess,
      diffSe('roc_auc'),
      `ROC AUC ${c.roc_auc.toFixed(4)} on the canary vs ${p.roc_auc.toFixed(4)} on production ${of}`,
      `a drop past the allowed ${r.max_auc_drop} by ${fmt(excess)}`,
    );
  }
  if (r.max_mae_ratio !== undefined && p.mae !== null && c.mae !== null) {
    const ratio = p.mae > 0 ? c.mae / p.mae : c.mae > 0 ? Infinity : 1;
    // Weighed as the canary's MAE against max_mae_ratio × production's, in the values' units.
    const excess = c.mae - r.max_mae_ratio * p.mae;
    add(
      'outcome_mae_ratio',
      ratio,
      r.max_mae_ratio,
      excess,
      diffSe('mae', 1, r.max_mae_ratio),
      `MAE ${c.mae.toFixed(4)} on the canary vs ${p.mae.toFixed(4)} on production ${of}`,
      `${fmt(excess)} above ${r.max_mae_ratio} × production's`,
    );
  }
  return checks;
}

/**
 * Custom rules as checks; a rule whose metric has no value yet (an outcome before its labels) is
 * left out. An outcome rule is weighed by the canary's standard error like the relative ones;
 * the others compare as given.
 */
function customChecks(custom: CustomRule[], c: ArmSummary, psiValue: number | null, outcomes: ArmOutcomes | undefined, holds: string[]): Check[] {
  const checks: Check[] = [];
  for (const rule of custom) {
    const observed = customMetric(rule.metric, c, psiValue, outcomes);
    if (observed === null) continue;
    const fires = rule.op === '>' ? observed > rule.threshold : rule.op === '>=' ? observed >= rule.threshold : rule.op === '<' ? observed < rule.threshold : observed <= rule.threshold;
    const check = { metric: rule.metric, observed, threshold: rule.threshold, detail: `custom rule: canary ${rule.metric} ${rule.op} ${rule.threshold}` };
    if (!rule.metric.startsWith('outcome:') || !outcomes) {
      checks.push({ ...check, passed: !fires });
      continue;
    }
    const se = outcomes.standard_errors[metricOf(rule)];
    const excess = fires ? Math.max(Math.abs(observed - rule.threshold), Number.MIN_VALUE) : 0;
    checks.push(weighed(check, excess, se, holds, `canary ${rule.metric} ${fmt(observed)} ${rule.op} ${rule.threshold} (custom rule), by ${fmt(Math.abs(observed - rule.threshold))}`));
  }
  return checks;
}

function customMetric(metric: string, c: ArmSummary, psiValue: number | null, outcomes?: ArmOutcomes): number | null {
  if (metric.startsWith('decision_rate:')) return c.decision_rates[metric.slice('decision_rate:'.length)] ?? 0;
  if (metric.startsWith('outcome:')) return outcomes ? (outcomes[metric.slice('outcome:'.length) as OutcomeMetric] ?? null) : null;
  const v = { error_rate: c.error_rate, p50_ms: c.p50_ms, p95_ms: c.p95_ms, mean_score: c.mean_score, score_psi: psiValue }[metric];
  return v ?? null;
}
