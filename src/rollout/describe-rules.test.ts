import { describe, expect, it } from 'vitest';
import { analysisSchema } from './analysis.js';
import { describeRules } from './describe-rules.js';

describe('a canary’s rules in words', () => {
  it('names the defaults', () => {
    expect(describeRules(analysisSchema.parse({}))).toBe("rolls back on error rate > 1.5 × production's (at least 1.5 %), p95 > 1.3 × production's (at least 1.3 ms)");
  });

  it('names every rule given, with the labels outcome rules wait for and the requests each arm needs', () => {
    const rules = analysisSchema.parse({
      max_error_ratio: 2,
      max_p95_ratio: 1.1,
      max_decision_rate_delta_pp: 8,
      max_score_psi: 0.25,
      min_scored_per_arm: 300,
      custom: [
        { metric: 'p95_ms', op: '>', threshold: 40 },
        { metric: 'outcome:accuracy', op: '<', threshold: 0.7 },
      ],
      outcomes: { min_labels_per_arm: 250, max_fpr_delta_pp: 5, max_accuracy_drop_pp: 3, max_auc_drop: 0.02, max_mae_ratio: 1.2 },
    });
    expect(describeRules(rules)).toBe(
      "rolls back on error rate > 2 × production's (at least 2 %), p95 > 1.1 × production's (at least 1.1 ms), a decision rate more than 8 points off production's, score PSI > 0.25; " +
        "on feedback (250 labels per arm): false-positive rate more than 5 points off production's, accuracy more than 3 points below production's, ROC AUC more than 0.02 below production's, MAE > 1.2 × production's; " +
        'custom: p95_ms > 40, outcome:accuracy < 0.7; 300 model-scored requests per arm first',
    );
  });

  it('an outcomes block with no rule of its own says nothing of feedback', () => {
    expect(describeRules(analysisSchema.parse({ outcomes: { min_labels_per_arm: 50 } }))).toBe(
      "rolls back on error rate > 1.5 × production's (at least 1.5 %), p95 > 1.3 × production's (at least 1.3 ms)",
    );
  });
});
