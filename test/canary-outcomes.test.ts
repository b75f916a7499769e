import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel, kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Canaries judged on real outcomes (latency is not what these tests judge: its rule is set out
 * of reach, so a loaded machine cannot decide first): per-arm metrics from feedback in GET /v1/canary/:model and
 * outcome rules in the analysis (a false-positive-rate band for binary, MAE for regression),
 * checked once enough labels arrive. Shadow comparisons per kind. Expected numbers are counted
 * here from the responses and the labels sent.
 */
const demo = demoModel();
const data = demo.holdout.data;
const charges = kindFixture('telco_charges');
const geo = kindFixture('bank_geography');

describe.each(DIALECTS)('canary outcomes on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ dialect, jobs: false, env: { CANARY_MIN_REQUESTS: '20', CANARY_MIN_SCORED: '20' } });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' });
    // Same model, a much lower threshold: it acts on far more guests who would not cancel.
    await s.ctx.registry.withPolicy({ model: 'hotel', from: 1, policy: { type: 'threshold', threshold: 0.15, above: 'act', below: 'none' }, actor: 't' });
    await s.ctx.registry.register({ model: 'charges', onnx: charges.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'charges', onnx: charges.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, actor: 't' });
    await s.ctx.registry.withPolicy({ model: 'geo', from: 1, policy: { type: 'min_probability', min: 0.6, fallback: 'review' }, actor: 't' });
    for (const m of ['hotel', 'charges', 'geo']) await s.ctx.registry.promote({ model: m, target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  const post = async (url: string, body: unknown) => {
    const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: res.json() };
  };
  const get = async (url: string) => (await s.app.inject({ method: 'GET', url, headers: s.auth })).json();

  it('binary: per-arm accuracy, false-positive rate and AUC from feedback; a false-positive band rolls the canary back once enough labels arrive', async () => {
    const start = await post('/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50, analysis: { max_p95_ratio: 1000, outcomes: { max_fpr_delta_pp: 5, min_labels_per_arm: 60 } } });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    await s.pool.refresh(true);
    const served: { id: string; arm: string; decision: string; label: number; score: number }[] = [];
    for (let i = 0; i < 300; i++) {
      const r = await post('/v1/infer', { model: 'hotel', routing_key: `guest-${i}`, payload: rowPayload(data, i) });
      served.push({ id: r.body.prediction_id, arm: r.body.arm, decision: r.body.decision, label: data.label[i], score: r.body.score });
    }
    await s.audit.flush();
    await s.runtime.flush();
    // No feedback yet: the outcome rule waits, and nothing is rolled back for it.
    const waiting = await get('/v1/canary/hotel');
    expect(waiting.outcomes).toMatchObject({
      judged: false,
      production: { labelled: 0 },
      canary: { labelled: 0 },
      reason: expect.stringMatching(/outcome rules wait for feedback: production has 0 labelled predictions of the 60 needed/),
    });
    expect((await s.runtime.tick()).actions).toEqual([]);

    const fb = await post('/v1/feedback', { items: served.map((p) => ({ prediction_id: p.id, label: p.label })) });
    expect(fb.body.failed).toBe(0);
    const fpr = (arm: string) => {
      const neg = served.filter((p) => p.arm === arm && p.label === 0);
      return neg.filter((p) => p.decision === 'act').length / neg.length;
    };
    const accuracy = (arm: string) => {
      const a = served.filter((p) => p.arm === arm);
      return a.filter((p) => (p.decision === 'act' ? 1 : 0) === p.label).length / a.length;
    };
    const status = await get('/v1/canary/hotel');
    expect(status.outcomes.judged).toBe(true);
    for (const arm of ['production', 'canary']) {
      expect(status.outcomes[arm].labelled).toBe(served.filter((p) => p.arm === arm).length);
      expect(status.outcomes[arm].false_positive_rate).toBeCloseTo(fpr(arm), 12);
      expect(status.outcomes[arm].accuracy).toBeCloseTo(accuracy(arm), 12);
    }
    expect(Math.abs(fpr('canary') - fpr('production')) * 100).toBeGreaterThan(5);
    const check = status.verdict.checks.find((c: { metric: string }) => c.metric === 'outcome_fpr_delta_pp');
    expect(check).toMatchObject({ passed: false, threshold: 5 });
    expect(check.observed).toBeCloseTo(Math.abs(fpr('canary') - fpr('production')) * 100, 9);
    const { actions } = await s.runtime.tick();
    expect(actions).toEqual([{ model: 'hotel', action: 'rollback', detail: expect.objectContaining({ metric: 'outcome_fpr_delta_pp' }) }]);
    const log = await get('/v1/rollbacks?model=hotel');
    expect(log.rollbacks[0]).toMatchObject({ trigger_metric: 'outcome_fpr_delta_pp', threshold: 5, rolled_back_by: 'system' });
  });

  it('regression: per-arm MAE from value feedback, the MAE ratio rule, exact mean values per arm', async () => {
    await post('/v1/canary', { model: 'charges', canary_version: 2, canary_percent: 50, analysis: { max_p95_ratio: 1000, outcomes: { max_mae_ratio: 1.5, min_labels_per_arm: 40 } } });
    await s.pool.refresh(true);
    const served: { id: string; arm: string; value: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await post('/v1/infer', { model: 'charges', routing_key: `line-${i}`, payload: charges.expected.rows[i] });
      served.push({ id: r.body.prediction_id, arm: r.body.arm, value: r.body.value });
    }
    await s.audit.flush();
    await s.runtime.flush();
    // Real values: 2 off on production's predictions, 4 off on the canary's (the same model: the feedback decides).
    await post('/v1/feedback', { items: served.map((p) => ({ prediction_id: p.id, label: p.value + (p.arm === 'canary' ? 4 : 2) })) });
    const status = await get('/v1/canary/charges');
    expect(status.outcomes.production.mae).toBeCloseTo(2, 6);
    expect(status.outcomes.canary.mae).toBeCloseTo(4, 6);
    const mean = (arm: string) => served.filter((p) => p.arm === arm).reduce((a, p) => a + p.value, 0) / served.filter((p) => p.arm === arm).length;
    expect(status.arms.canary.mean_score).toBeCloseTo(mean('canary'), 6);
    expect(status.verdict.score_psi).toBeNull();
    expect(status.verdict.checks.find((c: { metric: string }) => c.metric === 'outcome_mae_ratio')).toMatchObject({ passed: false, observed: expect.closeTo(2, 6), threshold: 1.5 });
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'charges', action: 'rollback', detail: expect.objectContaining({ metric: 'outcome_mae_ratio' }) }]);
  });

  it('shadow: each version judged by the outcomes fed back for the same requests', async () => {
    // Version 2 is version 1's graph acting from 0.15 instead of 0.5: the same scores, other decisions.
    await post('/v1/shadow', { model: 'hotel', version: 2, percent: 100 });
    await s.pool.refresh(true);
    const served: { id: string; event: string; score: number; label: number }[] = [];
    for (let i = 0; i < 120; i++) {
      const r = await post('/v1/infer', { model: 'hotel', event_id: `stay-${i}`, payload: rowPayload(data, i) });
      expect(r.body.arm).toBe('production');
      served.push({ id: r.body.prediction_id, event: `stay-${i}`, score: r.body.score, label: data.label[i] });
    }
    // A pinned request is no copy: the shadow never scores it.
    await post('/v1/infer', { model: 'hotel', version: 1, event_id: 'pinned-1', payload: rowPayload(data, 200) });
    await s.runtime.shadowIdle();
    await s.audit.flush();
    const none = (await get('/v1/canary/hotel')).shadow;
    expect(none.outcomes).toMatchObject({ production: { labelled: 0 }, shadow: { labelled: 0 } });
    // Each copy's audit record is named after the production prediction it copied.
    const copies = (await get('/v1/predictions?model=hotel&arm=shadow&limit=1000')).predictions as { id: string; version: number; score: number }[];
    expect(copies.map((c) => c.id).sort()).toEqual(served.map((p) => `${p.id}.shadow`).sort());
    // Outcomes for 100 of the 120, by event id (the production prediction's, as clients send them) and by prediction id.
    const labelled = served.slice(0, 100);
    const fb = await post('/v1/feedback', {
      items: [...labelled.slice(0, 50).map((p) => ({ event_id: p.event, label: p.label })), ...labelled.slice(50).map((p) => ({ prediction_id: p.id, label: p.label }))],
    });
    expect(fb.body).toMatchObject({ stored: 100, failed: 0 });
    await post('/v1/feedback', { event_id: 'pinned-1', label: 1 });
    // Listed and exported, each copy reads with the outcome of the prediction it copied.
    const listed = (await get('/v1/predictions?model=hotel&arm=shadow&limit=1000')).predictions as { id: string; outcome: number | null }[];
    const want = new Map(served.map((p, i) => [`${p.id}.shadow`, i < 100 ? p.label : null]));
    expect(listed.map((c) => [c.id, c.outcome])).toEqual(listed.map((c) => [c.id, want.get(c.id)]));
    expect(listed.filter((c) => c.outcome !== null)).toHaveLength(100);
    const o = (await get('/v1/canary/hotel')).shadow.outcomes;
    const shadowScore = new Map(copies.map((c) => [c.id, c.score]));
    // Counted here: acting at each version's threshold, and the ROC AUC as the share of (positive, negative) pairs ranked right.
    const judged = (threshold: number, score: (p: (typeof served)[number]) => number) => {
      const right = labelled.filter((p) => (score(p) >= threshold ? 1 : 0) === p.label).length;
      const neg = labelled.filter((p) => p.label === 0);
      const pos = labelled.filter((p) => p.label === 1);
      let pairs = 0;
      for (const a of pos) for (const b of neg) pairs += score(a) > score(b) ? 1 : score(a) === score(b) ? 0.5 : 0;
      return { labelled: 100, accuracy: right / 100, false_positive_rate: neg.filter((p) => score(p) >= threshold).length / neg.length, roc_auc: pairs / (pos.length * neg.length) };
    };
    const production = judged(0.5, (p) => p.score);
    const shadow = judged(0.15, (p) => shadowScore.get(`${p.id}.shadow`)!);
    for (const [arm, want] of [
      ['production', production],
      ['shadow', shadow],
    ] as const) {
      expect(o[arm].labelled).toBe(100);
      expect(o[arm].accuracy).toBeCloseTo(want.accuracy, 12);
      expect(o[arm].false_positive_rate).toBeCloseTo(want.false_positive_rate, 12);
      expect(o[arm].roc_auc).toBeCloseTo(want.roc_auc, 12);
    }
    expect(shadow.false_positive_rate).toBeGreaterThan(production.false_positive_rate);
    await post('/v1/shadow/hotel/stop', {});
  });

  it('shadow: class agreement for multiclass, relative value error for regression', async () => {
    await post('/v1/shadow', { model: 'geo', version: 2, percent: 100 });
    await post('/v1/shadow', { model: 'charges', version: 2, percent: 100 });
    await s.pool.refresh(true);
    for (let i = 0; i < 40; i++) {
      await post('/v1/infer', { model: 'geo', payload: geo.expected.rows[i] });
      await post('/v1/infer', { model: 'charges', payload: charges.expected.rows[i] });
    }
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    const g = (await get('/v1/canary/geo')).shadow;
    // Version 2 is version 1's graph with another policy: every class agrees, the decisions need not.
    expect(g).toMatchObject({ compared: 40, label_agreement: 1 });
    expect(g.decision_agreement).toBeUndefined();
    const c = (await get('/v1/canary/charges')).shadow;
    expect(c).toMatchObject({ compared: 40, mean_relative_error: 0, decision_agreement: 1 });
  });
});
