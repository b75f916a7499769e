import { compilePolicy, type Outcome, type Policy } from '../inference/index.js';
import {
  accuracy,
  actionDecisions,
  finiteOrNull,
  profit,
  averagePrecision,
  brier,
  calibration,
  classification,
  confusion,
  logLoss,
  multiclassMetrics,
  regressionMetrics,
  rocAuc,
  type CalibrationBin,
  type Confusion,
  type MulticlassMetrics,
  type RegressionMetrics,
} from '../monitoring/index.js';
import type { Costs } from './train.js';

/** What `modelgate evaluate` reports for one model version on labelled rows. No NaN: null instead. */
export interface Evaluation {
  rows: number;
  positive_rate: number;
  roc_auc: number | null;
  pr_auc: number | null;
  f1: number | null;
  precision: number | null;
  recall: number | null;
  accuracy: number | null;
  brier: number | null;
  log_loss: number | null;
  /** At the version's decision policy: acting = a decision that counts as an action. */
  confusion: Confusion;
  action_rate: number;
  expected_profit: number | null;
  expected_profit_per_row: number | null;
  calibration: CalibrationBin[];
}

const finite = finiteOrNull;

export function evaluateScores(scores: number[], labels: number[], policy: Policy, costs?: Costs | null): Evaluation {
  const decide = compilePolicy(policy);
  const acting = new Set(actionDecisions(policy));
  const acted = scores.map((s) => (acting.has(decide({ score: s })) ? 1 : 0));
  const c = confusion(acted, labels);
  const cls = classification(c);
  const realised = costs ? profit(c, costs) : null;
  return {
    rows: scores.length,
    positive_rate: labels.reduce((a, y) => a + y, 0) / labels.length,
    roc_auc: finite(rocAuc(scores, labels)),
    pr_auc: finite(averagePrecision(scores, labels)),
    f1: finite(cls.f1),
    precision: finite(cls.precision),
    recall: finite(cls.recall),
    accuracy: finite(accuracy(c)),
    brier: finite(brier(scores, labels)),
    log_loss: finite(logLoss(scores, labels)),
    confusion: c,
    action_rate: acted.reduce<number>((a, v) => a + v, 0) / scores.length,
    expected_profit: realised,
    expected_profit_per_row: realised === null ? null : realised / scores.length,
    calibration: calibration(scores, labels),
  };
}

/** JSON has no NaN: each non-finite number of a metrics object becomes null. */
function nullable<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))) as T;
}

const decisionMix = (decisions: string[]) => {
  const counts: Record<string, number> = {};
  for (const d of decisions) counts[d] = (counts[d] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).map(([d, n]) => [d, n / decisions.length]));
};

export type RegressionEvaluation = { task: 'regression'; decision_rates: Record<string, number> } & RegressionMetrics;
export type MulticlassEvaluation = { task: 'multiclass'; decision_rates: Record<string, number> } & MulticlassMetrics;
export type TaskEvaluation = ({ task: 'binary' } & Evaluation) | RegressionEvaluation | MulticlassEvaluation;

/** A regression version on rows with real values: the metrics, and the share of each decision its policy gave. */
export function evaluateRegression(outcomes: Outcome[], actual: number[], policy: Policy): RegressionEvaluation {
  const decide = compilePolicy(policy);
  return nullable({
    task: 'regression',
    ...regressionMetrics(
      outcomes.map((o) => o.score),
      actual,
    ),
    decision_rates: decisionMix(outcomes.map(decide)),
  });
}

/** A multiclass version on rows with real classes (`classes`: the model's, in probability order). */
export function evaluateMulticlass(outcomes: Outcome[], actual: string[], classes: readonly (string | number)[], policy: Policy): MulticlassEvaluation {
  const decide = compilePolicy(policy);
  const m = multiclassMetrics(
    outcomes.map((o) => String(o.label)),
    actual,
    classes.map(String),
    outcomes.map((o) => o.probabilities ?? []),
  );
  return nullable({ task: 'multiclass', ...m, decision_rates: decisionMix(outcomes.map(decide)) });
}
