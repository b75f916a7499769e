import { describe, expect, it } from 'vitest';
import { CanaryRouter, hashBucket } from '../inference/index.js';
import { histogramQuantile, psi } from '../monitoring/index.js';
import { analyse, analysisSchema } from './analysis.js';
import { armOutcomes, type OutcomeRow } from './outcomes.js';
import { addCounts, ArmRecorder, emptyCounts, latencyBin, scoreBin, type ArmCounts } from './stats.js';

describe('canary routing', () => {
  it('over 10,000 distinct entities the realised split is within ±1 point of the setting', () => {
    for (const percent of [1, 10, 25, 50, 90]) {
      let canary = 0;
      for (let i = 0; i < 10_000; i++) if (hashBucket(`customer-${i}`, 'churn:2026-11-23T10:00:00Z') < percent * 100) canary++;
      expect(Math.abs(canary / 100 - percent), `percent ${percent}`).toBeLessThanOrEqual(1);
    }
  });

  it('requests without a key also split within ±1 point', () => {
    const r = new CanaryRouter();
    let canary = 0;
    for (let i = 0; i < 10_000; i++) if (r.toCanary(25, 'salt', undefined)) canary++;
    expect(Math.abs(canary / 100 - 25)).toBeLessThanOrEqual(1);
  });

  it('is sticky, monotone in the percent, and reshuffles between rollouts', () => {
    const r = new CanaryRouter();
    const at10 = Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'a', `k${i}`));
    const at50 = Array.from({ length: 1000 }, (_, i) => r.toCanary(50, 'a', `k${i}`));
    at10.forEach((c, i) => c && expect(at50[i]).toBe(true));
    expect(Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'a', `k${i}`))).toEqual(at10);
    const other = Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'b', `k${i}`));
    expect(other).not.toEqual(at10);
    expect(r.toCanary(0, 'a', 'x')).toBe(false);
    expect(r.toCanary(100, 'a', 'x')).toBe(true);
  });
});

describe('statistics', () => {
  it('PSI matches a hand computation', () => {
    // Expected shares 0.5/0.3/0.2, actual 0.4/0.4/0.2: sum (a-e) ln(a/e).
    const expected = (0.4 - 0.5) * Math.log(0.4 / 0.5) + (0.4 - 0.3) * Math.log(0.4 / 0.3);
    expect(psi([50, 30, 20], [40, 40, 20])).toBeCloseTo(expected, 12);
    expect(psi([10, 10], [10, 10])).toBe(0);
  });

  it('histogram quantiles interpolate inside the bin (Prometheus histogram_quantile)', () => {
    // 10 in (0,1], 10 in (1,2]: the median is the top of the first bin, p75 is half-way through the second.
    expect(histogramQuantile([10, 10, 0], [1, 2], 0.5)).toBe(1);
    expect(histogramQuantile([10, 10, 0], [1, 2], 0.75)).toBe(1.5);
    expect(histogramQuantile([0, 0, 5], [1, 2], 0.9)).toBe(2);
    expect(latencyBin(0.1)).toBe(0);
    expect(scoreBin(1)).toBe(19);
    expect(scoreBin(0)).toBe(0);
  });
});

describe('analysis rules', () => {
  const arm = (requests: number, errors: number, latencyMs: number, acted: number): ArmCounts => {
    const c = emptyCounts();
    c.requests = requests;
    c.errors = errors;
    c.latency[latencyBin(latencyMs)] = requests;
    c.decisions = { act: acted, none: requests - errors - acted };
    c.scores[scoreBin(acted / requests)] = requests - errors;
    return c;
  };
  const rules = analysisSchema.parse({ max_decision_rate_delta_pp: 10, custom: [{ metric: 'decision_rate:act', op: '>', threshold: 0.9 }] });

  /** An arm whose cache answers `hitShare` of its requests in 0.1 ms; the model takes `modelMs`. */
  const cachedArm = (requests: number, hitShare: number, modelMs: number): ArmCounts => {
    const c = emptyCounts();
    const recorder = new ArmRecorder();
    for (let i = 0; i < requests; i++) {
      const hit = i < requests * hitShare;
      recorder.success('m', 'production', 1, hit ? 0.1 : modelMs, 0.3, 'none', hit);
    }
    return recorder.drain().reduce((acc, r) => addCounts(acc, r.counts), c);
  };

  it('compares model-scored requests only: a warm production cache does not roll back an equally fast canary', () => {
    const prod = cachedArm(4000, 0.9, 8);
    const canary = cachedArm(1000, 0, 8);
    const v = analyse({ version: 1, counts: prod }, { version: 2, counts: canary }, analysisSchema.parse({}), { minRequests: 200, minScored: 100 });
    expect(v.status).toBe('healthy');
    expect(v.production).toMatchObject({ requests: 4000, cache_hits: 3600, scored: 400 });
    // Counted over all requests, production's p95 would sit at 0.25 ms against the canary's 10.
    expect(v.production.p95_ms).toBeGreaterThan(5);
    const slow = analyse({ version: 1, counts: prod }, { version: 2, counts: cachedArm(1000, 0, 24) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100 });
    expect(slow.status).toBe('failing');
    expect(slow.failed?.metric).toBe('p95_ms');
    expect(slow.failed?.detail).toMatch(/^p95 [0-9.]+ ms > 1.3 × [0-9.]+ ms/);
  });

  /** An arm whose model-scored requests fall in the 1–2 ms bin but for `slow` in the 2–5 ms bin. */
  const tail = (requests: number, slow: number): ArmCounts => {
    const c = emptyCounts();
    c.requests = requests;
    c.latency[latencyBin(1.5)] = requests - slow;
    c.latency[latencyBin(3)] = slow;
    c.decisions = { none: requests };
    c.scores[0] = requests;
    return c;
  };

  it('holds a canary whose p95 is over the limit without evidence, and rolls it back once there is', () => {
    // Production: 5.6 % in 2–5 ms, p95 2 + 3 × (5/50) = 2.3 ms, limit 1.3 × 2.3 = 2.99 ms.
    const prod = { version: 1, counts: tail(900, 50) };
    const opts = { minRequests: 200, minScored: 100 };
    // The canary: 10 % in 2–5 ms, p95 2 + 3 × (15/30) = 3.5 ms over the limit; 30 × (5 − 2.99)/3 = 20.1 of 300 (6.7 %) slower than it.
    const few = analyse(prod, { version: 2, counts: tail(300, 30) }, analysisSchema.parse({}), opts);
    expect(few.canary.p95_ms).toBe(3.5);
    expect(few.checks.find((c) => c.metric === 'p95_ms')).toMatchObject({ passed: true, threshold: expect.closeTo(2.99, 9) });
    expect(few.status).toBe('insufficient_data');
    expect(few.reason).toContain(
      "canary p95 3.5 ms is above 1.3 × production's 2.3 ms, but 20 of its 300 model-scored requests (6.7 %) slower than 2.99 ms is not yet clearly more than the 5 % a p95 allows",
    );
    // The same shares over ten times the requests: 6.7 % is now clearly above 5 % (Wilson's 99.9 % lower bound 5.4 %).
    const many = analyse({ version: 1, counts: tail(9000, 500) }, { version: 2, counts: tail(3000, 300) }, analysisSchema.parse({}), opts);
    expect(many.status).toBe('failing');
    expect(many.failed?.metric).toBe('p95_ms');
    expect(many.failed?.detail).toMatch(/; 201 of its 3000 model-scored requests \(6\.7 %\) slower than 2\.99 ms\)$/);
    // A canary twice as often in the slow bin is clear at 300 requests already: 40 of 300 (13.4 %).
    expect(analyse(prod, { version: 2, counts: tail(300, 60) }, analysisSchema.parse({}), opts).status).toBe('failing');
    // Under the limit it is healthy whatever the count.
    expect(analyse(prod, { version: 2, counts: tail(300, 17) }, analysisSchema.parse({}), opts).status).toBe('healthy');
  });

  /** Binary outcome rows: `negatives` labelled 0 of which `falsePositives` acted on, `positives` labelled 1 of which `caught` acted on; scores rank the acted first. */
  const binaryRows = (negatives: number, falsePositives: number, positives: number, caught: number): OutcomeRow[] => {
    const row = (label: number, acted: boolean, i: number): OutcomeRow => ({
      label,
      decision: acted ? 'act' : 'none',
      score: acted ? 0.6 + (i % 40) / 100 : 0.1 + (i % 40) / 100,
      predicted: null,
      actual_class: null,
      actual_value: null,
    });
    return [...Array.from({ length: negatives }, (_, i) => row(0, i < falsePositives, i)), ...Array.from({ length: positives }, (_, i) => row(1, i < caught, i))];
  };
  const threshold = { type: 'threshold' as const, threshold: 0.5, above: 'act', below: 'none' };

  it('outcome rules weigh chance: a false-positive rate 8 points off over 176 negatives holds the canary, the same over 5,280 rolls it back', () => {
    // As measured on telco churn: 53.1 % of 770 production negatives acted on, 44.9 % of 176 on the canary.
    const prod = armOutcomes('binary', threshold, binaryRows(770, 409, 278, 260));
    const canary = armOutcomes('binary', threshold, binaryRows(176, 79, 64, 58));
    expect(prod.false_positive_rate).toBeCloseTo(409 / 770, 12);
    // Agresti–Caffo: p = (79 + 1) / (176 + 2), √(p(1 − p)/178).
    expect(canary.standard_errors.false_positive_rate).toBeCloseTo(Math.sqrt(((80 / 178) * (98 / 178)) / 178), 12);
    const rules = analysisSchema.parse({ max_p95_ratio: 1000, outcomes: { max_fpr_delta_pp: 5, min_labels_per_arm: 100 } });
    const counts = { version: 1, counts: arm(2000, 0, 1, 1000) };
    const opts = { minRequests: 200, minScored: 100 };
    const held = analyse(counts, { version: 2, counts: arm(500, 0, 1, 250) }, rules, { ...opts, outcomes: { production: prod, canary } });
    expect(held.status).toBe('insufficient_data');
    expect(held.checks.find((c) => c.metric === 'outcome_fpr_delta_pp')).toMatchObject({ passed: true, observed: expect.closeTo((409 / 770 - 79 / 176) * 100, 9) });
    // Band 5, observed 8.23: 3.23 past it, against 3.09 × √(3.73² + 1.80²) = 12.8 points (Agresti–Caffo: 80/178 and 410/772).
    expect(held.reason).toMatch(
      /false-positive rate 44\.89% on the canary vs 53\.12% on production: 8\.23 points apart .*, past the 5-point band by 3\.23, within what chance gives over these counts \(3\.09 standard errors: 12\.8\); waiting for more/,
    );
    // The same rates over more labels: ten times as many leave 3.23 points within 3.09 × 1.31;
    // thirty times as many put it beyond chance (3.09 × 0.76 = 2.34 points).
    const scaled = (k: number) =>
      analyse(counts, { version: 2, counts: arm(500, 0, 1, 250) }, rules, {
        ...opts,
        outcomes: {
          production: armOutcomes('binary', threshold, binaryRows(770 * k, 409 * k, 278 * k, 260 * k)),
          canary: armOutcomes('binary', threshold, binaryRows(176 * k, 79 * k, 64 * k, 58 * k)),
        },
      });
    expect(scaled(10).status).toBe('insufficient_data');
    const many = scaled(30);
    expect(many.status).toBe('failing');
    expect(many.failed?.metric).toBe('outcome_fpr_delta_pp');
  });

  it('a decision-rate band weighs chance too', () => {
    const rules = analysisSchema.parse({ max_p95_ratio: 1000, max_decision_rate_delta_pp: 5 });
    const opts = { minRequests: 200, minScored: 100 };
    // 30 % against 38 % acted on over 300 canary requests: 3 points past the band, about 3.2 standard errors of the difference (± 2.8 points).
    const held = analyse({ version: 1, counts: arm(3000, 0, 1, 900) }, { version: 2, counts: arm(300, 0, 1, 114) }, rules, opts);
    expect(held.status).toBe('insufficient_data');
    expect(held.reason).toMatch(/decision rates \(act\) 8\.00 points apart, past the 5-point band by 3, within what chance gives/);
    const clear = analyse({ version: 1, counts: arm(30000, 0, 1, 9000) }, { version: 2, counts: arm(3000, 0, 1, 1140) }, rules, opts);
    expect(clear.failed).toMatchObject({ metric: 'decision_rate_delta_pp:act', observed: expect.closeTo(8, 9) });
  });

  it('takes no decision until each arm has enough model-scored requests, and says why', () => {
    const prod = cachedArm(1000, 0.95, 8); // 50 scored
    const v = analyse({ version: 1, counts: prod }, { version: 2, counts: cachedArm(1000, 0, 80) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100 });
    expect(v.status).toBe('insufficient_data');
    expect(v.reason).toMatch(/production has 50 model-scored requests of the 100 needed per arm \(950 cache hits not counted\)/);
    // What brings scored requests, for an operator whose traffic repeats cached rows.
    expect(v.reason).toMatch(/a cached answer says nothing of a version's latency or errors; rows new to the cache, or entries older than CACHE_TTL_MS, are scored/);
    const own = analyse({ version: 1, counts: prod }, { version: 2, counts: cachedArm(1000, 0, 80) }, analysisSchema.parse({ min_scored_per_arm: 40 }), { minRequests: 200, minScored: 100 });
    expect(own.status).toBe('failing');
  });

  it('an outcome rule rolls back on its labels even while cache hits leave the arms short of model-scored requests', () => {
    // Standard errors about as large as these counts give (0.3 / √n).
    const outcomes = (labelled: number, auc: number) => {
      const se = 0.3 / Math.sqrt(labelled);
      return { labelled, accuracy: 0.9, false_positive_rate: 0.1, roc_auc: auc, mae: null, standard_errors: { accuracy: se, false_positive_rate: se, roc_auc: se, mae: null } };
    };
    const allHits = cachedArm(5000, 1, 8);
    const withRules = analysisSchema.parse({ outcomes: { min_labels_per_arm: 200, max_auc_drop: 0.01 } });
    const opts = { minRequests: 200, minScored: 100 };
    const worse = analyse({ version: 1, counts: allHits }, { version: 2, counts: allHits }, withRules, { ...opts, outcomes: { production: outcomes(9000, 0.985), canary: outcomes(8000, 0.948) } });
    expect(worse.status).toBe('failing');
    expect(worse.failed).toMatchObject({ metric: 'outcome_auc_drop', threshold: 0.01 });
    expect(worse.failed!.observed).toBeCloseTo(0.037, 9);
    // The same through a custom outcome rule: 0.948 is 0.012 under 0.96, past 3.09 × 0.0034 (the canary's standard error).
    const custom = analysisSchema.parse({ outcomes: { min_labels_per_arm: 200 }, custom: [{ metric: 'outcome:roc_auc', op: '<', threshold: 0.96 }] });
    expect(
      analyse({ version: 1, counts: allHits }, { version: 2, counts: allHits }, custom, { ...opts, outcomes: { production: outcomes(9000, 0.985), canary: outcomes(8000, 0.948) } }).failed,
    ).toMatchObject({
      metric: 'outcome:roc_auc',
    });
    // Outcomes that pass decide nothing: the other rules still wait for model-scored requests.
    const fine = analyse({ version: 1, counts: allHits }, { version: 2, counts: allHits }, withRules, { ...opts, outcomes: { production: outcomes(9000, 0.985), canary: outcomes(8000, 0.98) } });
    expect(fine.status).toBe('insufficient_data');
    expect(fine.reason).toMatch(/canary has 0 model-scored requests of the 100 needed per arm \(5000 cache hits not counted\)/);
    // Too few labels: nothing decided, whatever the AUC says.
    const fewLabels = analyse({ version: 1, counts: allHits }, { version: 2, counts: allHits }, withRules, { ...opts, outcomes: { production: outcomes(9000, 0.985), canary: outcomes(150, 0.6) } });
    expect(fewLabels.status).toBe('insufficient_data');
    expect(fewLabels.outcomes?.reason).toMatch(/canary has 150 labelled predictions of the 200 needed/);
    // Still short of min_requests: the outcome rule decides all the same, on its own minimum.
    const fewRequests = analyse({ version: 1, counts: allHits }, { version: 2, counts: cachedArm(50, 1, 8) }, withRules, {
      ...opts,
      outcomes: { production: outcomes(9000, 0.985), canary: outcomes(300, 0.9) },
    });
    expect(fewRequests.failed?.metric).toBe('outcome_auc_drop');
  });

  it('a custom outcome rule decides on the labels of the canary alone, without an outcomes block; a metric the labels do not give yet holds the canary', () => {
    const outcomes = (labelled: number, accuracy: number | null, auc: number | null = 0.9) => {
      const se = labelled ? 0.3 / Math.sqrt(labelled) : null;
      return { labelled, accuracy, false_positive_rate: 0.1, roc_auc: auc, mae: null, standard_errors: { accuracy: se, false_positive_rate: se, roc_auc: se, mae: null } };
    };
    const prod = { version: 1, counts: cachedArm(1000, 0, 8) };
    const canary = { version: 2, counts: cachedArm(1000, 0, 8) };
    const opts = { minRequests: 200, minScored: 100 };
    const onlyCustom = analysisSchema.parse({ custom: [{ metric: 'outcome:accuracy', op: '<', threshold: 0.8 }] });
    const worse = analyse(prod, canary, onlyCustom, { ...opts, outcomes: { production: outcomes(0, null), canary: outcomes(150, 0.7) } });
    expect(worse.status).toBe('failing');
    expect(worse.failed).toMatchObject({ metric: 'outcome:accuracy', observed: 0.7, threshold: 0.8 });
    expect(analyse(prod, canary, onlyCustom, { ...opts, outcomes: { production: outcomes(0, null), canary: outcomes(150, 0.85) } }).status).toBe('healthy');
    const few = analyse(prod, canary, onlyCustom, { ...opts, outcomes: { production: outcomes(0, null), canary: outcomes(50, 0.99) } });
    expect(few.status).toBe('insufficient_data');
    expect(few.reason).toBe('no automatic decision yet: outcome rules wait for feedback: canary has 50 labelled predictions of the 100 needed');
    // Enough labels, all of one outcome on production: no ROC AUC there, so the rule cannot pass yet.
    const aucRule = analysisSchema.parse({ outcomes: { max_auc_drop: 0.01 } });
    const oneClass = analyse(prod, canary, aucRule, { ...opts, outcomes: { production: outcomes(300, 0.9, null), canary: outcomes(300, 0.9, 0.95) } });
    expect(oneClass.status).toBe('insufficient_data');
    expect(oneClass.reason).toMatch(/outcome rules cannot be checked yet: max_auc_drop: no ROC AUC on production yet \(it needs both outcomes among its labels\)/);
    expect(oneClass.outcomes?.judged).toBe(false);
    // An outcomes block with no rule in it only shows the numbers: it holds nothing.
    expect(analyse(prod, canary, analysisSchema.parse({ outcomes: { min_labels_per_arm: 500 } }), { ...opts, outcomes: { production: outcomes(0, null), canary: outcomes(0, null) } }).status).toBe(
      'healthy',
    );
  });

  it('at 100 % the production arm gets no traffic: the canary is judged on its own numbers against the floors', () => {
    const none = emptyCounts();
    const healthy = analyse({ version: 1, counts: none }, { version: 2, counts: cachedArm(500, 0, 8) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100, canaryPercent: 100 });
    expect(healthy.status).toBe('healthy');
    expect(healthy.checks.map((c) => c.metric)).toEqual(['error_rate']);
    const failing = analyse({ version: 1, counts: none }, { version: 2, counts: arm(1000, 30, 1, 300) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100, canaryPercent: 100 });
    expect(failing.failed?.metric).toBe('error_rate');
    // A decision-rate band compares with production's decisions, which it makes none of at 100 %: not a 30-point difference from nothing.
    const band = analyse({ version: 1, counts: none }, { version: 2, counts: arm(1000, 0, 1, 300) }, analysisSchema.parse({ max_decision_rate_delta_pp: 5 }), {
      minRequests: 200,
      minScored: 100,
      canaryPercent: 100,
    });
    expect(band.status).toBe('healthy');
    expect(band.checks.map((c) => c.metric)).toEqual(['error_rate']);
    // Production's window at 100 % holds the few requests a replica answered before it saw the step, most of them from its cache: not waited for.
    const late = cachedArm(93, 0.5, 8);
    expect(late.requests - late.cache_hits).toBeLessThan(100);
    const stale = analyse({ version: 1, counts: late }, { version: 2, counts: cachedArm(9000, 0.2, 8) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100, canaryPercent: 100 });
    expect(stale.reason).toBeUndefined();
    expect(stale.status).toBe('healthy');
    // Nor do they set the limits: 40 of 120 late production requests failed (33 %), and a canary failing 30 % is still judged against the 1 % floor, not 1.5 × 33 %; the late requests' slow p95 sets no latency limit either.
    const lateFailing = arm(120, 40, 900, 30);
    const judged = analyse({ version: 1, counts: lateFailing }, { version: 2, counts: arm(1000, 300, 1, 300) }, analysisSchema.parse({}), { minRequests: 200, minScored: 100, canaryPercent: 100 });
    expect(judged.failed).toMatchObject({ metric: 'error_rate', observed: 0.3, threshold: 0.015 });
    expect(judged.failed?.detail).toBe('canary error rate 30.00% > 1.5 × the 1% floor (of 1000 model-scored requests; at 100 % production serves nothing to compare with)');
    expect(judged.checks.map((c) => c.metric)).toEqual(['error_rate']);
    // A score PSI rule has nothing to compare either: 120 late requests scoring high against a canary scoring low are not a shift.
    const psi = analyse({ version: 1, counts: arm(120, 0, 1, 110) }, { version: 2, counts: arm(1000, 0, 1, 50) }, analysisSchema.parse({ max_score_psi: 0.1 }), {
      minRequests: 200,
      minScored: 100,
      canaryPercent: 100,
    });
    expect(psi.score_psi).toBeNull();
    expect(psi.status).toBe('healthy');
    // Below 100 % the same arms are a shift, and roll it back.
    const below = analyse({ version: 1, counts: arm(1200, 0, 1, 1100) }, { version: 2, counts: arm(1000, 0, 1, 50) }, analysisSchema.parse({ max_score_psi: 0.1 }), {
      minRequests: 200,
      minScored: 100,
      canaryPercent: 50,
    });
    expect(below.failed?.metric).toBe('score_psi');
  });

  it('waits for min_requests before judging', () => {
    expect(analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(100, 50, 1, 10) }, rules, { minRequests: 200, minScored: 100 }).status).toBe('insufficient_data');
  });

  it('uses the error floor when production has no errors, and the ratio above it', () => {
    const ok = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 10, 1, 300) }, rules, { minRequests: 200, minScored: 100 });
    expect(ok.status).toBe('healthy'); // 1% ≤ max(0, 1%) × 1.5
    const bad = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 20, 1, 300) }, rules, { minRequests: 200, minScored: 100 });
    expect(bad.failed).toMatchObject({ metric: 'error_rate', observed: 0.02, threshold: 0.015 });
  });

  it('flags slow canaries, decision-rate shifts and custom rules', () => {
    const slow = analyse({ version: 1, counts: arm(1000, 0, 4, 300) }, { version: 2, counts: arm(1000, 0, 40, 300) }, rules, { minRequests: 200, minScored: 100 });
    expect(slow.failed?.metric).toBe('p95_ms');
    const shifted = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 0, 1, 500) }, rules, { minRequests: 200, minScored: 100 });
    expect(shifted.failed).toMatchObject({ metric: 'decision_rate_delta_pp:act' });
    expect(shifted.failed!.observed).toBeCloseTo(20, 9);
    const custom = analyse({ version: 1, counts: arm(1000, 0, 1, 950) }, { version: 2, counts: arm(1000, 0, 1, 950) }, rules, { minRequests: 200, minScored: 100 });
    expect(custom.failed).toMatchObject({ metric: 'decision_rate:act', threshold: 0.9 });
  });
});
