import { describe, expect, it } from 'vitest';
import { analysisSchema } from './analysis.js';
import { canarySettings, changedSettings, type StartCanaryInput } from './canary-request.js';
import { idleRollout } from './idle.js';
import type { Rollout } from './store.js';

const at = '2026-12-05T12:00:00.000Z';
const running: Rollout = {
  ...idleRollout('churn', { stepIntervalMs: 600_000, minRequests: 200 }, at),
  production_version: 1,
  canary_version: 2,
  canary_percent: 50,
  steps: [10, 50, 100],
  step_index: 1,
  step_interval_ms: 600_000,
  analysis: analysisSchema.parse({ max_p95_ratio: 2, outcomes: { min_labels_per_arm: 300, max_fpr_delta_pp: 5 } }),
  started_at: at,
  step_started_at: at,
  started_by: 't',
  canary_revision: 4,
};

const change = (input: Omit<StartCanaryInput, 'model' | 'canary_version' | 'actor'>) => {
  const full = { model: 'churn', canary_version: 2, actor: 't', ...input };
  return changedSettings(running, canarySettings(full, { production: 1 }, 600_000), full);
};

describe('a start request for the running canary', () => {
  it('repeated as it was first sent, changes nothing (the percent the canary stepped to stays)', () => {
    const { next, changed } = change({ steps: [10, 50, 100], step_interval: '10m', analysis: { max_p95_ratio: 2 } });
    expect(changed).toEqual({});
    expect(next).toEqual(running);
    expect(change({ analysis: {} }).rulesChanged).toBe(false);
  });

  it('with steps and no percent keeps the percent; with a percent moves it', () => {
    expect(change({ steps: [5, 25, 100] })).toMatchObject({ next: { canary_percent: 50, steps: [5, 25, 100] }, changed: { steps: { from: [10, 50, 100], to: [5, 25, 100] } } });
    expect(change({ canary_percent: 25 }).changed).toEqual({ percent: { from: 50, to: 25 } });
  });

  it('changes only the rules it names, an outcome rule beside the others', () => {
    const { next, changed } = change({ analysis: { max_error_ratio: 1.2, outcomes: { max_auc_drop: 0.02 } }, step_interval: '30m', min_requests: 500, auto_promote: true });
    expect(next.analysis).toEqual({ max_error_ratio: 1.2, max_p95_ratio: 2, outcomes: { min_labels_per_arm: 300, max_fpr_delta_pp: 5, max_auc_drop: 0.02 } });
    expect(next).toMatchObject({ step_interval_ms: 1_800_000, min_requests: 500, auto_promote: true, canary_percent: 50, steps: [10, 50, 100] });
    expect(changed).toEqual({
      step_interval: { from: '10m', to: '30m' },
      min_requests: { from: 200, to: 500 },
      auto_promote: { from: false, to: true },
      max_error_ratio: { from: 1.5, to: 1.2 },
      'outcomes.max_auc_drop': { from: null, to: 0.02 },
    });
  });
});
