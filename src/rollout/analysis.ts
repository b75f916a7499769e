import { z } from 'zod';
import type { Task } from '../inference/index.js';
import type { ArmOutcomes } from './outcomes.js';
import { scorePsi, summarize, type ArmCounts, type ArmSummary } from './stats.js';

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
   * Judge the canary on real outcomes too (feedback joined to each arm's predictions of the
   * step window): checked once both arms have min_labels_per_arm labelled predictions.
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

/** Below this error rate a canary is never judged worse: one error in 200 requests is noise. */
export const ERROR_RATE_FLOOR = 0.01;
/** p95 latencies under this are compared as this: sub-millisecond ratios are histogram noise. */
export const P95_FLOOR_MS = 1;

export interface Check {
  metric: string;
  observed: number;
  threshold: number;
  passed: boolean;
  detail: string;
}

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

/**
 * Compare the canary arm with production over the same window. Rules are relative to
 * production, so a slow day or a noisy dependency moves both arms and fires nothing. Latency
 * and errors are those of model-scored requests only: cache hits say nothing of the model, and
 * the arms' caches are not equally warm. No decision is taken until both arms have
 * `minScored` scored requests, except by an outcome rule, which waits for its labels instead.
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
    /** Each arm's outcome metrics from feedback over the window. */
    outcomes?: { production: ArmOutcomes; canary: ArmOutcomes };
  },
): Verdict {
  const { minRequests, minScored } = opts;
  const alone = (opts.canaryPercent ?? 50) >= 100;
  const p = summarize(prod.version, prod.counts);
  const c = summarize(canary.version, canary.counts);
  const psiValue = opts.task !== 'regression' && canary.counts.requests - canary.counts.errors > 0 && prod.counts.requests - prod.counts.errors > 0 ? scorePsi(prod.counts, canary.counts) : null;
  const outcomeRules = rules.outcomes;
  const needLabels = outcomeRules?.min_labels_per_arm ?? 100;
  const labelsShort = opts.outcomes
    ? (['production', 'canary'] as const).filter((a) => opts.outcomes![a].labelled < needLabels).map((a) => `${a} has ${opts.outcomes![a].labelled} labelled predictions of the ${needLabels} needed`)
    : [];
  const outcomes = opts.outcomes
    ? { ...opts.outcomes, judged: !!outcomeRules && labelsShort.length === 0, ...(outcomeRules && labelsShort.length ? { reason: `outcome rules wait for feedback: ${labelsShort.join('; ')}` } : {}) }
    : undefined;
  const base = { production: p, canary: c, score_psi: psiValue, ...(outcomes ? { outcomes } : {}) };
  const need = rules.min_scored_per_arm ?? minScored;
  const short: string[] = [];
  if (c.requests < minRequests) short.push(`canary has ${c.requests} requests of the ${minRequests} needed (min_requests)`);
  for (const [name, a] of (alone
    ? [['canary', c]]
    : [
        ['canary', c],
        ['production', p],
      ]) as [string, typeof c][]) {
    if (a.scored < need) short.push(`${name} has ${a.scored} model-scored requests of the ${need} needed per arm (${a.cache_hits} cache hits not counted)`);
  }
  // Outcome rules wait for labels (min_labels_per_arm), not for model-scored requests: cache hits
  // carry the model's own scores, so their feedback judges it as well as any other's.
  const judged = outcomes?.judged && outcomeRules ? { rules: outcomeRules, ...outcomes } : undefined;
  if (short.length) {
    const early = judged
      ? [
          ...outcomeChecks(judged.rules, judged.production, judged.canary),
          ...customChecks(
            (rules.custom ?? []).filter((r) => r.metric.startsWith('outcome:')),
            c,
            psiValue,
            judged.canary,
          ),
        ]
      : [];
    const failedOutcome = early.find((x) => !x.passed);
    if (failedOutcome) return { status: 'failing', checks: early, failed: failedOutcome, ...base };
    return { status: 'insufficient_data', reason: `no automatic decision yet: ${short.join('; ')}`, checks: [], ...base };
  }

  const checks: Check[] = [];
  const errLimit = Math.max(p.error_rate, ERROR_RATE_FLOOR) * rules.max_error_ratio;
  checks.push({
    metric: 'error_rate',
    observed: c.error_rate,
    threshold: errLimit,
    passed: c.error_rate <= errLimit,
    detail: `canary error rate ${(c.error_rate * 100).toFixed(2)}% > ${rules.max_error_ratio} × production ${(p.error_rate * 100).toFixed(2)}% (of ${c.scored} and ${p.scored} model-scored requests)`,
  });
  if (c.p95_ms !== null && p.p95_ms !== null && p.scored >= need) {
    const limit = Math.max(p.p95_ms, P95_FLOOR_MS) * rules.max_p95_ratio;
    checks.push({
      metric: 'p95_ms',
      observed: c.p95_ms,
      threshold: limit,
      passed: c.p95_ms <= limit,
      detail: `p95 ${c.p95_ms} ms > ${rules.max_p95_ratio} × ${p.p95_ms} ms (model-scored requests: canary ${c.scored}, production ${p.scored})`,
    });
  }
  if (rules.max_decision_rate_delta_pp !== undefined) {
    const names = new Set([...Object.keys(p.decision_rates), ...Object.keys(c.decision_rates)]);
    let worst = { name: '', delta: 0 };
    for (const d of names) {
      const delta = Math.abs((c.decision_rates[d] ?? 0) - (p.decision_rates[d] ?? 0)) * 100;
      if (delta > worst.delta) worst = { name: d, delta };
    }
    checks.push({
      metric: `decision_rate_delta_pp${worst.name ? `:${worst.name}` : ''}`,
      observed: worst.delta,
      threshold: rules.max_decision_rate_delta_pp,
      passed: worst.delta <= rules.max_decision_rate_delta_pp,
      detail: `largest decision-rate difference ${worst.delta.toFixed(2)} pp${worst.name ? ` (${worst.name})` : ''}`,
    });
  }
  if (rules.max_score_psi !== undefined && psiValue !== null) {
    checks.push({ metric: 'score_psi', observed: psiValue, threshold: rules.max_score_psi, passed: psiValue <= rules.max_score_psi, detail: `score PSI between arms ${psiValue.toFixed(4)}` });
  }
  if (judged) checks.push(...outcomeChecks(judged.rules, judged.production, judged.canary));
  checks.push(...customChecks(rules.custom ?? [], c, psiValue, judged?.canary));
  const failed = checks.find((x) => !x.passed);
  return { status: failed ? 'failing' : 'healthy', checks, ...(failed ? { failed } : {}), ...base };
}

/** The outcome rules as checks, each skipped when a metric is missing on either arm (e.g. AUC with one class). */
function outcomeChecks(r: NonNullable<AnalysisRules['outcomes']>, p: ArmOutcomes, c: ArmOutcomes): Check[] {
  const checks: Check[] = [];
  const of = `(feedback on ${c.labelled} canary and ${p.labelled} production predictions)`;
  if (r.max_fpr_delta_pp !== undefined && p.false_positive_rate !== null && c.false_positive_rate !== null) {
    const delta = Math.abs(c.false_positive_rate - p.false_positive_rate) * 100;
    checks.push({
      metric: 'outcome_fpr_delta_pp',
      observed: delta,
      threshold: r.max_fpr_delta_pp,
      passed: delta <= r.max_fpr_delta_pp,
      detail: `false-positive rate ${(c.false_positive_rate * 100).toFixed(2)}% on the canary vs ${(p.false_positive_rate * 100).toFixed(2)}% on production: ${delta.toFixed(2)} points apart ${of}`,
    });
  }
  if (r.max_accuracy_drop_pp !== undefined && p.accuracy !== null && c.accuracy !== null) {
    const drop = (p.accuracy - c.accuracy) * 100;
    checks.push({
      metric: 'outcome_accuracy_drop_pp',
      observed: drop,
      threshold: r.max_accuracy_drop_pp,
      passed: drop <= r.max_accuracy_drop_pp,
      detail: `accuracy ${(c.accuracy * 100).toFixed(2)}% on the canary vs ${(p.accuracy * 100).toFixed(2)}% on production ${of}`,
    });
  }
  if (r.max_auc_drop !== undefined && p.roc_auc !== null && c.roc_auc !== null) {
    const drop = p.roc_auc - c.roc_auc;
    checks.push({
      metric: 'outcome_auc_drop',
      observed: drop,
      threshold: r.max_auc_drop,
      passed: drop <= r.max_auc_drop,
      detail: `ROC AUC ${c.roc_auc.toFixed(4)} on the canary vs ${p.roc_auc.toFixed(4)} on production ${of}`,
    });
  }
  if (r.max_mae_ratio !== undefined && p.mae !== null && c.mae !== null) {
    const ratio = p.mae > 0 ? c.mae / p.mae : c.mae > 0 ? Infinity : 1;
    checks.push({
      metric: 'outcome_mae_ratio',
      observed: ratio,
      threshold: r.max_mae_ratio,
      passed: ratio <= r.max_mae_ratio,
      detail: `MAE ${c.mae.toFixed(4)} on the canary vs ${p.mae.toFixed(4)} on production ${of}`,
    });
  }
  return checks;
}

/** Custom rules as checks; a rule whose metric has no value yet (an outcome before its labels) is left out. */
function customChecks(custom: CustomRule[], c: ArmSummary, psiValue: number | null, outcomes: ArmOutcomes | undefined): Check[] {
  const checks: Check[] = [];
  for (const rule of custom) {
    const observed = customMetric(rule.metric, c, psiValue, outcomes);
    if (observed === null) continue;
    const fires = rule.op === '>' ? observed > rule.threshold : rule.op === '>=' ? observed >= rule.threshold : rule.op === '<' ? observed < rule.threshold : observed <= rule.threshold;
    checks.push({ metric: rule.metric, observed, threshold: rule.threshold, passed: !fires, detail: `custom rule: canary ${rule.metric} ${rule.op} ${rule.threshold}` });
  }
  return checks;
}

function customMetric(metric: string, c: ArmSummary, psiValue: number | null, outcomes?: ArmOutcomes): number | null {
  if (metric.startsWith('decision_rate:')) return c.decision_rates[metric.slice('decision_rate:'.length)] ?? 0;
  if (metric.startsWith('outcome:')) return outcomes ? (outcomes[metric.slice('outcome:'.length) as keyof ArmOutcomes] ?? null) : null;
  const v = { error_rate: c.error_rate, p50_ms: c.p50_ms, p95_ms: c.p95_ms, mean_score: c.mean_score, score_psi: psiValue }[metric];
  return v ?? null;
}
