import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';
import type { Authenticator, Scope } from '../src/server/auth.js';
import { DIALECTS } from './helpers/db.js';
import { faultyModel, slowModel } from './helpers/faulty-model.js';
import { demoModel, fixture, kindFixture, THREE_BANDS } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { runCli } from './helpers/cli.js';
import { OUTCOMES_REUSE_MS } from '../src/rollout/evaluate.js';
import { describeRolloutEvent, type RolloutEvent } from '../src/rollout/describe-event.js';

/** A clock tests move by hand: step intervals pass without sleeping. */
function manualClock(start = Date.parse('2026-11-23T10:00:00Z')) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

const readOnly: Authenticator = {
  authenticate: (token) => (token === 'reader-token-0123456789' ? { id: 'reader', kind: 'anonymous', scopes: new Set<Scope>(['read', 'infer']) } : undefined),
};

describe.each(DIALECTS)('canary rollouts on %s', (dialect) => {
  let s: TestServer;
  const clock = manualClock();
  const v1 = demoModel();
  const v2 = trainLogisticRegression(generateHotelBookings(3000, 77), { l2: 3 });
  const data = v1.holdout.data;

  beforeAll(async () => {
    s = await startTestServer({ dialect, clock, jobs: false, authenticators: [readOnly], env: { CANARY_MIN_REQUESTS: '50' } });
    for (const onnx of [v1.onnx, v2.onnx, faultyModel(v1.preprocessor, 300), v2.onnx]) await s.ctx.registry.register({ model: 'hotel', onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'archived', version: 4, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());
  // How a slow version's runs are scheduled beside another's (the scoring thread, the gate, each
  // arm's latency) is the same whichever database holds the registry: once, on SQLite.
  const schedulingOnly = (name: string, fn: () => Promise<void>) => {
    if (dialect === 'sqlite') it(name, fn);
  };

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, token?: string) =>
    s.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : s.auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const infer = (i: number, extra: Record<string, unknown> = {}) => call('POST', '/v1/infer', { model: 'hotel', routing_key: `guest-${i}`, payload: rowPayload(data, i % data.rows), ...extra });
  const code = (res: Awaited<ReturnType<typeof call>>) => (res.json() as { error?: { code: string } }).error?.code;

  /** A stepped canary the step tests start, and one step's worth of traffic (300 rows none of them sent before), then its interval. */
  const stepped = {
    model: 'hotel',
    canary_version: 2,
    steps: [10, 50, 100],
    step_interval: '10m',
    min_requests: 30,
    // A custom rule too: PostgreSQL gives back its keys in another order than they were written.
    analysis: { max_p95_ratio: 1000, min_scored_per_arm: 20, custom: [{ metric: 'error_rate', op: '>', threshold: 0.5 }] },
  };
  let round = 0;
  const driveStep = async () => {
    await s.pool.refresh(true);
    round++;
    await Promise.all(Array.from({ length: 300 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i % data.rows), adr: 120 + round * 13 + i / 100 } })));
    await s.runtime.flush();
    clock.advance(10 * 60_000 + 1);
  };

  it('refuses bad canary requests with clear 4xx answers', async () => {
    const bad = async (payload: unknown, status: number, errorCode: string, text?: RegExp) => {
      const res = await call('POST', '/v1/canary', payload);
      expect(res.statusCode, res.body).toBe(status);
      expect(code(res)).toBe(errorCode);
      if (text) expect(res.json().error.message).toMatch(text);
    };
    await bad({ model: 'hotel', canary_version: 9, canary_percent: 10 }, 404, 'VERSION_NOT_FOUND');
    await bad({ model: 'nope', canary_version: 2, canary_percent: 10 }, 404, 'MODEL_NOT_FOUND');
    await bad({ model: 'hotel', canary_version: 4, canary_percent: 10 }, 409, 'CONFLICT', /archived/);
    await bad({ model: 'hotel', canary_version: 2, canary_percent: 101 }, 400, 'VALIDATION_FAILED', /canary_percent/);
    await bad({ model: 'hotel', canary_version: 2, canary_percent: -1 }, 400, 'VALIDATION_FAILED');
    await bad({ model: 'hotel', canary_version: 1, canary_percent: 10 }, 409, 'CONFLICT', /already the production version/);
    // The production arm serves the alias; a production_version that is not it would compare the canary with a version nobody is served.
    await bad(
      { model: 'hotel', canary_version: 2, canary_percent: 10, production_version: 3 },
      409,
      'CONFLICT',
      /^production_version 3 is not the production version of hotel \(1\): .*promote version 3 to production first$/,
    );
    await bad({ model: 'hotel', canary_version: 2, steps: [10, 50, 25] }, 400, 'VALIDATION_FAILED', /steps/);
    await bad({ model: 'hotel', canary_version: 2, canary_percent: 10, step_interval: 'soon' }, 400, 'VALIDATION_FAILED', /step_interval/);
    await bad({ model: 'hotel', canary_version: 2, canary_percent: 10, analysis: { custom: [{ metric: 'vibes', op: '>', threshold: 1 }] } }, 400, 'VALIDATION_FAILED', /metric/);
    // Outcome rules the canary could never check would hold it at its step for ever.
    await bad(
      { model: 'hotel', canary_version: 2, canary_percent: 10, analysis: { outcomes: { max_mae_ratio: 1.2 } } },
      400,
      'VALIDATION_FAILED',
      /outcomes\.max_mae_ratio \(--max-mae-ratio\) needs MAE, which feedback gives only for regression models, and the canary is a binary model; its outcome rules are outcomes\.max_fpr_delta_pp \(--max-fpr-delta-pp\), outcomes\.max_accuracy_drop_pp \(--max-accuracy-drop-pp\), outcomes\.max_auc_drop \(--max-auc-drop\)/,
    );
    await bad(
      { model: 'hotel', canary_version: 2, canary_percent: 10, analysis: { custom: [{ metric: 'outcome:mae', op: '>', threshold: 3 }] } },
      400,
      'VALIDATION_FAILED',
      /custom rule outcome:mae needs MAE/,
    );
    await bad(
      { model: 'hotel', canary_version: 2, canary_percent: 100, analysis: { outcomes: { max_auc_drop: 0.02 } } },
      400,
      'VALIDATION_FAILED',
      /a canary that starts at 100 % leaves production none/,
    );
    await bad({ model: 'hotel', canary_version: 2, steps: [100], analysis: { outcomes: { max_auc_drop: 0.02 } } }, 400, 'VALIDATION_FAILED', /starts at 100 %/);
    const promoteNone = await call('POST', '/v1/canary/hotel/promote', {});
    expect(promoteNone.statusCode).toBe(409);
    expect(promoteNone.json().error.message).toMatch(/no canary running/);
    // Stopping what is not running is not an error (runbooks stop after promoting); it says what serves.
    const stopNone = await call('POST', '/v1/canary/hotel/stop', {});
    expect(stopNone.statusCode).toBe(200);
    expect(stopNone.json()).toMatchObject({ stopped: false, canary_version: null, production_version: 1 });
    const forbidden = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 10 }, 'reader-token-0123456789');
    expect(forbidden.statusCode).toBe(403);
    expect(code(forbidden)).toBe('FORBIDDEN');
    const idle = await call('GET', '/v1/canary/hotel', undefined, 'reader-token-0123456789');
    expect(idle.statusCode).toBe(200);
    expect(idle.json()).toMatchObject({ production_version: 1, canary_version: null, canary_percent: 0, last_canary: null });
  });

  it('splits traffic stickily by routing key, names the arm, and lets pinned requests bypass it', async () => {
    const started = await call('POST', '/v1/canary', { product: 'hotel', canary_model_id: 2, canary_percent: 30, analysis: { max_p95_ratio: 20 } });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json()).toMatchObject({ production_version: 1, canary_version: 2, canary_percent: 30 });
    const second = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 3, canary_percent: 5 });
    expect(second.statusCode).toBe(409);
    expect(second.json().error.details.running).toMatchObject({ canary_version: 2, canary_percent: 30 });

    const arms = new Map<number, string>();
    const replies = await Promise.all(Array.from({ length: 2000 }, (_, i) => infer(i)));
    replies.forEach((r, i) => {
      expect(r.statusCode).toBe(200);
      const b = r.json();
      expect(b.version).toBe(b.arm === 'canary' ? 2 : 1);
      arms.set(i, b.arm);
    });
    const canaryShare = [...arms.values()].filter((a) => a === 'canary').length / 2000;
    expect(Math.abs(canaryShare - 0.3)).toBeLessThan(0.03);
    // Sticky: the same guests land on the same arms again.
    const again = await Promise.all(Array.from({ length: 200 }, (_, i) => infer(i)));
    again.forEach((r, i) => expect(r.json().arm).toBe(arms.get(i)));
    // Raising the percent keeps every canary guest on the canary.
    expect((await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 60 })).statusCode).toBe(200);
    const raised = await Promise.all(Array.from({ length: 500 }, (_, i) => infer(i)));
    raised.forEach((r, i) => {
      if (arms.get(i) === 'canary') expect(r.json().arm).toBe('canary');
    });
    // Pinned requests bypass routing.
    const pinned = await infer(1, { version: 1 });
    expect(pinned.json()).toMatchObject({ version: 1, arm: 'pinned' });
    const byAlias = await infer(1, { alias: 'production' });
    expect(byAlias.json()).toMatchObject({ version: 1, arm: 'pinned', alias: 'production' });
    expect((await call('GET', '/metrics')).body).toContain('modelgate_rollout_canary_percent{model="hotel"} 60');
  });

  it('status shows per-arm numbers and a healthy verdict; a step advances only after its interval', async () => {
    await s.runtime.flush();
    const st = (await call('GET', '/v1/canary/hotel')).json();
    expect(st.arms.canary.requests).toBeGreaterThan(50);
    expect(st.arms.production.requests).toBeGreaterThan(50);
    // The repeated guests above were answered from the cache: counted, but not as model-scored.
    expect(st.arms.canary.cache_hits).toBeGreaterThan(50);
    expect(st.arms.canary.scored).toBe(st.arms.canary.requests - st.arms.canary.cache_hits);
    expect(st.verdict.status).toBe('healthy');
    expect(st.verdict.checks.map((c: { metric: string }) => c.metric)).toContain('error_rate');
    // The list of running rollouts (the console's models page) names this one, and only models with one.
    const list = (await call('GET', '/v1/canary')).json();
    expect(list.rollouts).toEqual([expect.objectContaining({ model: 'hotel', canary_version: 2, canary_percent: st.canary_percent, production_version: 1, shadow_version: null })]);
    // No steps configured: analysis never changes the percent by itself.
    expect((await s.runtime.tick()).actions).toEqual([]);
    const stop = await call('POST', '/v1/canary/hotel/stop', { reason: 'checking the dashboards' });
    expect(stop.statusCode).toBe(200);
    expect(stop.json()).toMatchObject({ stopped: true, canary_version: 2, production_version: 1 });
    const rb = (await call('GET', '/v1/rollbacks?model=hotel')).json();
    expect(rb.rollbacks[0]).toMatchObject({ model: 'hotel', canary_version: 2, production_version: 1, reason: 'stopped by admin-token: checking the dashboards', rolled_back_by: 'admin-token' });
  });

  it('a canary that fails on some inputs is rolled back automatically, with the trigger recorded', async () => {
    await call('POST', '/v1/canary', { model: 'hotel', canary_version: 3, canary_percent: 50, analysis: { max_error_ratio: 1.5 } });
    await s.pool.refresh(true);
    const results = await Promise.all(Array.from({ length: 1500 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i % data.rows), lead_time: i % 10 === 0 ? 450 : 20 } })));
    const byArm = { production: [] as number[], canary: [] as number[] };
    for (const r of results) {
      const arm = r.statusCode === 200 ? (r.json().arm as 'production' | 'canary') : 'canary';
      byArm[arm].push(r.statusCode);
    }
    // Production served every one of its requests; only canary requests with a poison row failed.
    expect(byArm.production.every((c) => c === 200)).toBe(true);
    expect(byArm.canary.filter((c) => c !== 200).length).toBeGreaterThan(10);
    const { actions } = await s.runtime.tick();
    expect(actions).toEqual([expect.objectContaining({ model: 'hotel', action: 'rollback' })]);
    const rb = (await call('GET', '/v1/rollbacks?model=hotel&limit=1')).json().rollbacks[0];
    expect(rb).toMatchObject({ canary_version: 3, production_version: 1, trigger_metric: 'error_rate', rolled_back_by: 'system' });
    expect(rb.observed).toBeGreaterThan(0.05);
    expect(rb.threshold).toBeCloseTo(0.015, 6);
    // An operator who looks later is told how the canary ended, not only that none runs.
    const after = (await call('GET', '/v1/canary/hotel')).json();
    expect(after).toMatchObject({
      canary_version: null,
      last_canary: { event: 'rollback', canary_version: 3, production_version: 1, actor: 'system', details: { reason: expect.stringMatching(/error rate/) } },
    });
    const said = await runCli(['canary', 'status', '--model', 'hotel'], s.env);
    expect(said.stdout).toBe(
      `hotel: no canary running (production 1)\nlast canary: canary v3 rolled back automatically: ${after.last_canary.details.reason} (system, ${after.last_canary.at}); modelgate canary history --model hotel lists every step\n`,
    );
    await s.pool.refresh(true);
    expect((await infer(5)).json().arm).toBe('production');
    // The transition is applied once: another pass finds nothing to do.
    expect((await s.runtime.tick()).actions).toEqual([]);
    // Sent out again, it is reminded of how it ended: over HTTP and from the CLI.
    const again = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 3, canary_percent: 5 });
    const reminder = `version 3's last canary was rolled back automatically at ${after.last_canary.at}: ${after.last_canary.details.reason}; modelgate canary history --model hotel has every step`;
    expect(again.json().warnings).toEqual([reminder]);
    expect((await call('POST', '/v1/canary/hotel/stop', {})).statusCode).toBe(200);
    // Stopped by hand since: the last end is that stop, and nothing is recalled.
    const cli = await runCli(['canary', 'start', '--model', 'hotel', '--version', '3', '--percent', '5', '--json'], s.env);
    expect(cli.json().warnings).toEqual([]);
    expect((await call('POST', '/v1/canary/hotel/stop', {})).statusCode).toBe(200);
  });

  it('progressive steps advance on a healthy canary after each interval and auto-promote at the end', async () => {
    const res = await call('POST', '/v1/canary', {
      model: 'hotel',
      canary_version: 2,
      steps: [10, 50, 100],
      step_interval: '10m',
      min_requests: 30,
      auto_promote: true,
      analysis: { max_p95_ratio: 20, min_scored_per_arm: 20 },
    });
    expect(res.json()).toMatchObject({ canary_percent: 10, step: 1 });
    let round = 0;
    const drive = async () => {
      await s.pool.refresh(true);
      // The same guests each round, with new rows: cache hits are not what the analysis counts.
      round++;
      await Promise.all(Array.from({ length: 400 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i % data.rows), adr: 40 + round * 7 + i / 100 } })));
      await s.runtime.flush();
    };
    await drive();
    expect((await s.runtime.tick()).actions).toEqual([]); // healthy, but the step has not lasted 10 minutes
    // What the status shows of a step's window: each arm's requests, and the checks with their limits.
    const judged: Record<string, unknown>[] = [];
    const seen = async () => {
      const st = (await call('GET', '/v1/canary/hotel')).json();
      const arm = (a: Record<string, unknown>, labelled?: number) => ({
        requests: a.requests,
        scored: a.scored,
        error_rate: a.error_rate,
        p95_ms: a.p95_ms,
        ...(labelled !== undefined ? { labelled } : {}),
      });
      judged.push({
        production: arm(st.arms.production),
        canary: arm(st.arms.canary),
        checks: st.verdict.checks.map((c: { metric: string; observed: number; threshold: number }) => ({ metric: c.metric, observed: c.observed, threshold: c.threshold })),
      });
      return st;
    };
    clock.advance(10 * 60_000 + 1);
    // At 10 %: about 40 of the 400 new rows on the canary (a binomial draw: 40 ± 6).
    expect((await seen()).arms.canary.scored).toBeGreaterThan(15);
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 50 } }]);
    await drive();
    clock.advance(10 * 60_000 + 1);
    await seen();
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 100 } }]);
    await drive();
    clock.advance(10 * 60_000 + 1);
    expect((await seen()).arms.canary.scored).toBe(400);
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'promote', detail: { version: 2 } }]);
    const m = (await call('GET', '/v1/models/hotel')).json();
    expect(m.aliases.production).toBe(2);
    const events = (await call('GET', '/v1/canary/hotel/events')).json().events.map((e: { event: string; actor: string }) => `${e.event}:${e.actor}`);
    expect(events.slice(0, 4)).toEqual(['promote:system', 'step:system', 'step:system', 'start:admin-token']);
    // Each automatic move keeps what it was judged on: the arms and checks the status showed just before it.
    const moves = (await call('GET', '/v1/canary/hotel/events')).json().events.slice(0, 3) as { details: { evidence: Record<string, unknown> } }[];
    expect(moves.map((e) => e.details.evidence)).toEqual(judged.reverse());
    for (const e of moves) expect(e.details.evidence.checks).toContainEqual({ metric: 'error_rate', observed: 0, threshold: 0.015 });
    const history = await runCli(['canary', 'history', '--model', 'hotel'], s.env);
    expect(history.stdout).toMatch(
      /canary v2 stepped to 50% \(step 2 of 3\), judged on [\d,]+ canary and [\d,]+ production model-scored requests: error_rate 0 \(limit 0\.015\), p95_ms [\d.]+ \(limit [\d.]+\)/,
    );
    expect(history.stdout).toMatch(/canary v2 promoted to production \(was v1\), judged on 400 canary and [\d,]+ production model-scored requests: error_rate 0 \(limit 0\.015\)/);
    // The previous production stays the rollback target.
    const rb = await call('POST', '/v1/models/hotel/rollback', {});
    expect(rb.json()).toMatchObject({ version: 1, rolled_back_from: 2 });
  });

  it('a canary with outcome rules neither steps nor promotes before they are checked; at 100 % production keeps the labels of its predictions since the start', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    const res = await call('POST', '/v1/canary', {
      model: 'hotel',
      canary_version: 2,
      steps: [50, 100],
      step_interval: '10m',
      min_requests: 30,
      auto_promote: true,
      analysis: { max_p95_ratio: 1000, min_scored_per_arm: 20, outcomes: { max_accuracy_drop_pp: 60, min_labels_per_arm: 40 } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const served: { id: string; arm: string; label: number }[] = [];
    let round = 0;
    const drive = async () => {
      await s.pool.refresh(true);
      round++;
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i % data.rows), adr: 55 + round * 11 + i / 100 } })));
      replies.forEach((r, i) => served.push({ id: r.json().prediction_id, arm: r.json().arm, label: data.label[i % data.rows] }));
      await s.audit.flush();
      await s.runtime.flush();
    };
    await drive();
    clock.advance(10 * 60_000 + 1);
    // Healthy on every other rule and past its interval, but no outcome has come back yet.
    expect((await s.runtime.tick()).actions).toEqual([]);
    const waiting = (await call('GET', '/v1/canary/hotel')).json();
    expect(waiting).toMatchObject({ canary_percent: 50, verdict: { status: 'insufficient_data' }, outcomes: { judged: false } });
    expect(waiting.verdict.reason).toMatch(/no automatic decision yet: outcome rules wait for feedback: production has 0 labelled predictions of the 40 needed; canary has 0/);
    const fb = await call('POST', '/v1/feedback', { items: served.map((p) => ({ prediction_id: p.id, label: p.label })) });
    expect(fb.json().failed).toBe(0);
    const productionLabelled = served.filter((p) => p.arm === 'production').length;
    expect(productionLabelled).toBeGreaterThan(40);
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 100 } }]);

    // At 100 % production serves nothing new; its labelled predictions from the first step still count.
    await drive();
    clock.advance(10 * 60_000 + 1);
    const alone = (await call('GET', '/v1/canary/hotel')).json();
    expect(alone.outcomes).toMatchObject({ judged: true, production: { labelled: productionLabelled } });
    expect(alone.verdict.checks.find((c: { metric: string }) => c.metric === 'outcome_accuracy_drop_pp')).toMatchObject({ passed: true });
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'promote', detail: { version: 2 } }]);
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
  });

  it('outcomes are read at most once per OUTCOMES_REUSE_MS: feedback another replica stores shows after that, feedback stored here at once', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    expect((await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50 })).statusCode).toBe(200);
    await s.pool.refresh(true);
    const ids = (await Promise.all(Array.from({ length: 40 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i), adr: 77.7 + i / 10 } })))).map((r) => r.json().prediction_id as string);
    await s.audit.flush();
    await s.runtime.flush();
    const labelled = async () => {
      const o = (await call('GET', '/v1/canary/hotel')).json().outcomes;
      return o.production.labelled + o.canary.labelled;
    };
    expect(await labelled()).toBe(0);
    // Another replica stores outcomes for ten of them: straight into the table.
    const at = clock.now().toISOString();
    await s.ctx.db.kysely
      .insertInto('feedback')
      .values(ids.slice(0, 10).map((id) => ({ prediction_id: id, model: 'hotel', event_id: null, label: 1, value: null, actual_class: null, actual_value: null, at, key_id: null })))
      .execute();
    expect(await labelled()).toBe(0);
    clock.advance(OUTCOMES_REUSE_MS);
    expect(await labelled()).toBe(10);
    // Feedback through this server is seen at once.
    const fb = await call('POST', '/v1/feedback', { items: ids.slice(10, 15).map((id) => ({ prediction_id: id, label: 0 })) });
    expect(fb.json().stored).toBe(5);
    expect(await labelled()).toBe(15);
    await call('POST', '/v1/canary/hotel/stop', {});
  });

  it('a percent set by hand between two steps moves on to the step above it, never back down', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    expect((await call('POST', '/v1/canary', stepped)).statusCode).toBe(200);
    const driveAndWait = driveStep;
    // The same start request with another percent (the API's way), between the first two steps.
    const moved = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 30 });
    expect(moved.json()).toMatchObject({ canary_percent: 30, steps: [10, 50, 100] });
    await driveAndWait();
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 50 } }]);
    // canary set (the CLI's way), between the last two.
    await s.ctx.rollouts.setPercent('hotel', 70, 't');
    await driveAndWait();
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 100 } }]);
    await call('POST', '/v1/canary/hotel/stop', {});
  });

  it('the same start request again changes nothing; one naming new rules, steps or auto-promotion changes only those, keeping the percent and the step’s clock', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    const start = stepped;
    expect((await call('POST', '/v1/canary', start)).statusCode).toBe(200);
    const drive = driveStep;
    const events = async () => (await call('GET', '/v1/canary/hotel/events')).json().events as { event: string; actor: string; details: Record<string, unknown> }[];
    await drive();
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 50 } }]);
    const atStep = (await call('GET', '/v1/canary/hotel')).json();
    const before = (await events()).length;
    // A deploy job runs its start again after the canary stepped on: nothing moves back.
    await drive();
    const again = await call('POST', '/v1/canary', start);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ canary_percent: 50, step_started_at: atStep.step_started_at, analysis: atStep.analysis, auto_promote: false });
    // canary set to the percent it is at: nothing either.
    await s.ctx.rollouts.setPercent('hotel', 50, 't');
    expect(await events()).toHaveLength(before);
    // New rules and auto-promotion, without a percent or steps: those change, the rest stay.
    const changed = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, analysis: { max_error_ratio: 1.2 }, auto_promote: true });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({
      canary_percent: 50,
      steps: [10, 50, 100],
      step_started_at: atStep.step_started_at,
      auto_promote: true,
      analysis: { max_error_ratio: 1.2, max_p95_ratio: 1000, min_scored_per_arm: 20 },
    });
    const [latest] = await events();
    expect(latest).toMatchObject({ event: 'change', details: { changed: { auto_promote: { from: false, to: true }, max_error_ratio: { from: 1.5, to: 1.2 } } } });
    expect(describeRolloutEvent(latest as RolloutEvent)).toBe('canary v2 changed: auto_promote off → on, max_error_ratio 1.5 → 1.2');
    // Rules that do not fit the model are refused as at the start, and change nothing.
    const unfit = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, analysis: { outcomes: { max_mae_ratio: 1.1 } } });
    expect(unfit.statusCode).toBe(400);
    expect(unfit.json().error.message).toMatch(/^analysis: outcomes.max_mae_ratio \(--max-mae-ratio\) needs MAE, .* the canary is a binary model/);
    expect((await call('GET', '/v1/canary/hotel')).json().analysis).toEqual(changed.json().analysis);
    // The step at 50 % has lasted its interval since it began (not since the change): on to 100 %, then promoted.
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'step', detail: { percent: 100 } }]);
    await drive();
    expect((await s.runtime.tick()).actions).toEqual([{ model: 'hotel', action: 'promote', detail: { version: 2 } }]);
    const bad = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 3, analysis: { max_error_ratio: 1.2 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toBe('canary_percent: is required (or give steps): no canary of hotel is running, so this starts one');
    // From the CLI, in its flags (it named the API's field).
    const cli = await runCli(['canary', 'start', '--model', 'hotel', '--version', '3', '--max-error-ratio', '1.2'], s.env);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toBe('error: no canary of hotel is running, so this starts one: give --percent N or --steps 10,25,50,100\n');
  });

  it('arms with no model-scored requests for several windows: no step, no rollback, and the status says why', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    const res = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, steps: [10, 50], step_interval: '10m', min_requests: 30, auto_promote: true });
    expect(res.statusCode, res.body).toBe(200);
    await s.pool.refresh(true);
    // Windows with no traffic at all.
    for (let w = 0; w < 3; w++) {
      clock.advance(10 * 60_000 + 1);
      expect((await s.runtime.tick()).actions).toEqual([]);
    }
    // Then traffic the cache answers entirely: both versions have scored these rows twice (pinned requests), so they are cached.
    const rows = Array.from({ length: 40 }, (_, i) => ({ ...rowPayload(data, i), adr: 333 + i / 10 }));
    for (const version of [1, 2]) for (let n = 0; n < 2; n++) await Promise.all(rows.map((payload) => infer(0, { version, payload })));
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) => infer(i, { payload: rows[i % rows.length] })));
    expect(replies.every((r) => r.json().cached === true)).toBe(true);
    await s.runtime.flush();
    for (let w = 0; w < 3; w++) {
      clock.advance(10 * 60_000 + 1);
      expect((await s.runtime.tick()).actions).toEqual([]);
    }
    const st = (await call('GET', '/v1/canary/hotel')).json();
    expect(st).toMatchObject({ canary_version: 2, canary_percent: 10, verdict: { status: 'insufficient_data' } });
    expect(st.arms.production).toMatchObject({ scored: 0 });
    expect(st.arms.production.cache_hits).toBeGreaterThan(300);
    expect(st.verdict.reason).toMatch(/canary has 0 model-scored requests of the 100 needed per arm \(\d+ cache hits not counted\); production has 0 model-scored requests/);
    await call('POST', '/v1/canary/hotel/stop', {});
  });

  it('manual promote with archive_previous archives the old production', async () => {
    await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 20 });
    // A page or script that judged another canary (version 3, say, stopped and replaced by 2) promotes nothing.
    const other = await call('POST', '/v1/canary/hotel/promote', { canary_version: 3, archive_previous: true });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.message).toBe('the canary of hotel is version 2, not 3: it was replaced since; nothing promoted');
    expect((await call('GET', '/v1/models/hotel')).json().aliases.production).toBe(1);
    const res = await call('POST', '/v1/canary/hotel/promote', { archive_previous: true, canary_version: 2 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ version: 2, previous_version: 1, archived_version: 1 });
    expect((await call('GET', '/v1/models/hotel/versions/1')).json().status).toBe('archived');
    await call('POST', '/v1/models/hotel/promote', { version: 1, target: 'active' });
  });

  it('blue/green: a canary can be named by slot, can target a slot, and promotion fills it; per-slot rollback restores it', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    await call('POST', '/v1/models/hotel/promote', { version: 1, target: 'blue' });
    await call('POST', '/v1/models/hotel/promote', { version: 2, target: 'green' });
    const started = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 'green', target: 'blue', canary_percent: 25 });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json()).toMatchObject({ canary_version: 2, production_version: 1, target: 'blue' });
    // Production is at the same version as blue: a start without the target is still not this canary's.
    const otherTarget = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50 });
    expect(otherTarget.statusCode).toBe(409);
    expect(otherTarget.json().error.message).toBe(
      'the running canary of hotel (version 2) competes for blue, not production: to change it, name its target (--target blue, "target": "blue"); to compete for production, stop it first',
    );
    expect((await call('POST', '/v1/canary', { model: 'hotel', canary_version: 2, target: 'blue', canary_percent: 50 })).json()).toMatchObject({
      target: 'blue',
      canary_percent: 50,
      changed: { percent: { from: 25, to: 50 } },
    });
    const promoted = await call('POST', '/v1/canary/hotel/promote', {});
    expect(promoted.json()).toMatchObject({ alias: 'blue', version: 2, previous_version: 1 });
    const aliases = (await call('GET', '/v1/models/hotel')).json().aliases;
    expect(aliases).toMatchObject({ production: 1, blue: 2, green: 2 });
    const back = await call('POST', '/v1/models/hotel/rollback', { slot: 'blue' });
    expect(back.json()).toMatchObject({ alias: 'blue', version: 1, rolled_back_from: 2 });
  });

  it('a canary competing for a slot shares the traffic of that slot, not of production, and is compared with the version in the slot', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    await call('POST', '/v1/models/hotel/promote', { version: 4, target: 'active' });
    await call('POST', '/v1/models/hotel/promote', { version: 2, target: 'blue' });
    await call('POST', '/v1/models/hotel/promote', { version: 4, target: 'green' });
    const started = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 'green', target: 'blue', canary_percent: 50 });
    expect(started.statusCode, started.body).toBe(200);
    await s.pool.refresh(true);
    const payload = (i: number) => ({ ...rowPayload(data, i % data.rows), adr: 211 + i / 100 });
    // Production's own traffic: all on production, none of it on the canary.
    const plain = await Promise.all(Array.from({ length: 200 }, (_, i) => infer(i, { payload: payload(i) })));
    expect(new Set(plain.map((r) => `${r.json().arm} v${r.json().version}`))).toEqual(new Set(['production v1']));
    // The slot's traffic: split between blue (the compared arm) and the canary.
    const blue = await Promise.all(Array.from({ length: 400 }, (_, i) => infer(i, { alias: 'blue', payload: payload(i + 1000) })));
    const seen = blue.map((r) => `${r.json().arm} v${r.json().version}`);
    expect(new Set(seen)).toEqual(new Set(['production v2', 'canary v4']));
    const toCanary = seen.filter((x) => x === 'canary v4').length;
    expect(toCanary).toBeGreaterThan(140);
    expect(toCanary).toBeLessThan(260);
    await s.runtime.flush();
    const st = (await call('GET', '/v1/canary/hotel')).json();
    expect(st).toMatchObject({ target: 'blue', production_version: 2, canary_version: 4 });
    expect(st.arms.production).toMatchObject({ version: 2, requests: 400 - toCanary });
    expect(st.arms.canary).toMatchObject({ version: 4, requests: toCanary });
    await call('POST', '/v1/canary/hotel/stop', {});
    await call('POST', '/v1/models/hotel/promote', { version: 4, target: 'archived' });
  });

  it('shadow scores copies off the request path and reports agreement; a failing shadow changes nothing for callers', async () => {
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    let res = await call('POST', '/v1/shadow', { model: 'hotel', version: 2 });
    expect(res.statusCode, res.body).toBe(200);
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => infer(i)));
    expect(replies.every((r) => r.statusCode === 200 && r.json().version === 1)).toBe(true);
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    let shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow).toMatchObject({ version: 2, percent: 100 });
    expect(shadow.compared).toBe(300);
    expect(shadow.decision_agreement).toBeGreaterThan(0.5);
    expect(shadow.mean_abs_score_diff).toBeGreaterThan(0);
    expect(shadow.mean_abs_score_diff).toBeLessThan(0.3);
    // The same start again (a deploy job run twice) keeps the comparison; a new percent too.
    const startedAt = shadow.started_at;
    clock.advance(60_000);
    expect((await call('POST', '/v1/shadow', { model: 'hotel', version: 2 })).json().shadow).toMatchObject({ percent: 100, compared: 300, started_at: startedAt });
    const halved = await call('POST', '/v1/shadow', { model: 'hotel', version: 2, percent: 50 });
    expect(halved.json().shadow).toMatchObject({ percent: 50, compared: 300, started_at: startedAt });
    const history = (await call('GET', '/v1/canary/hotel/events')).json().events as RolloutEvent[];
    expect(history.slice(0, 2).map(describeRolloutEvent)).toEqual(['shadow v2 set from 100% to 50%', 'shadow v2 started at 100%']);

    // A shadow that errors on every row: callers still get production's answers.
    await call('POST', '/v1/shadow/hotel/stop', {});
    res = await call('POST', '/v1/shadow', { model: 'hotel', version: 3 });
    const withBadShadow = await Promise.all(Array.from({ length: 100 }, (_, i) => infer(i, { payload: { ...rowPayload(data, i), lead_time: 999 } })));
    expect(withBadShadow.every((r) => r.statusCode === 200 && r.json().version === 1)).toBe(true);
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow).toMatchObject({ version: 3, errors: 100, compared: 0 });
    expect((await call('POST', '/v1/shadow/hotel/stop', {})).json()).toMatchObject({ shadow: null, stopped: true });
    // Stopped already: not an error (a runbook's clean-up step, as a canary's stop), and nothing recorded.
    const eventsBefore = (await call('GET', '/v1/canary/hotel/events')).json().events as RolloutEvent[];
    const again = await call('POST', '/v1/shadow/hotel/stop', {});
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ shadow: null, stopped: false });
    expect((await call('GET', '/v1/canary/hotel/events')).json().events).toHaveLength(eventsBefore.length);
  });

  schedulingOnly('a slow shadow (about 100 ms a run) does not slow down the requests it copies', async () => {
    const slow = await s.ctx.registry.register({ model: 'hotel', onnx: slowModel(v1.preprocessor), actor: 't' });
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    await call('POST', '/v1/shadow', { model: 'hotel', version: slow.version });
    await infer(0); // the scoring thread loads the slow graph
    await s.runtime.shadowIdle();
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t = process.hrtime.bigint();
      const r = await infer(i);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      expect(r.json().version).toBe(1);
    }
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    const shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow.compared).toBe(41);
    // Scored on the request thread, most of these would wait out a 100 ms shadow run.
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length * 0.9)]).toBeLessThan(50);
    await call('POST', '/v1/shadow/hotel/stop', {});
  });

  it('a shadow is compared with production’s answers only, starts afresh when production moves, and ends when its version becomes production or is archived', async () => {
    clock.advance(3_600_000);
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    expect((await call('POST', '/v1/shadow', { model: 'hotel', version: 2 })).statusCode).toBe(200);
    // With a canary taking half the traffic, only production's answers are copied.
    const canary = await call('POST', '/v1/canary', { model: 'hotel', canary_version: 3, canary_percent: 50 });
    expect(canary.statusCode, canary.body).toBe(200);
    await s.pool.refresh(true);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => infer(i, { routing_key: `follow-${i}` })));
    const byProduction = replies.filter((r) => r.json().arm === 'production').length;
    expect(byProduction).toBeGreaterThan(50);
    expect(byProduction).toBeLessThan(150);
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    let shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow).toMatchObject({ version: 2, production_version: 1, compared: byProduction });
    await call('POST', '/v1/canary/hotel/stop', {});

    // Production moves to another version: what was compared with version 1 is left behind.
    clock.advance(1000);
    expect((await call('POST', '/v1/models/hotel/promote', { version: 3 })).statusCode).toBe(200);
    await s.pool.refresh(true);
    shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow).toMatchObject({ version: 2, production_version: 3, compared: 0, started_at: clock.now().toISOString() });
    // Version 3 fails rows with a long lead time: only answered requests are compared.
    const answered = (await Promise.all(Array.from({ length: 30 }, (_, i) => infer(i, { routing_key: `follow-${i}` })))).filter((r) => r.statusCode === 200).length;
    expect(answered).toBeGreaterThan(20);
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    shadow = (await call('GET', '/v1/canary/hotel')).json().shadow;
    expect(shadow).toMatchObject({ version: 2, production_version: 3, compared: answered });

    // Production becomes the shadow's version: nothing is left to compare, the shadow ends.
    expect((await call('POST', '/v1/models/hotel/promote', { version: 2 })).statusCode).toBe(200);
    await s.pool.refresh(true);
    expect((await call('GET', '/v1/canary/hotel')).json().shadow).toBeNull();
    const events = (await call('GET', '/v1/canary/hotel/events')).json().events as { event: string; details: Record<string, unknown> }[];
    expect(events.slice(0, 2).map((e) => [e.event, e.details])).toEqual([
      ['shadow_stop', { shadow_version: 2, reason: 'version 2 is production now (promote version 2 to production)' }],
      ['shadow_restart', { shadow_version: 2, production_version: 3, from: 1 }],
    ]);
    // A row an earlier release left with production's own version as its shadow: nothing is copied.
    clock.advance(1000);
    await s.ctx.db.kysely.updateTable('rollouts').set({ shadow_version: 2, shadow_percent: 100, shadow_started_at: clock.now().toISOString() }).where('model', '=', 'hotel').execute();
    await s.pool.refresh(true);
    await Promise.all(Array.from({ length: 10 }, (_, i) => infer(i)));
    await s.runtime.shadowIdle();
    await s.runtime.flush();
    expect((await call('GET', '/v1/canary/hotel')).json().shadow).toMatchObject({ version: 2, production_version: 2, requests: 0, compared: 0 });
    expect((await call('POST', '/v1/shadow/hotel/stop', {})).statusCode).toBe(200);
    const itself = await call('POST', '/v1/shadow', { model: 'hotel', version: 2 });
    expect(itself.statusCode).toBe(409);
    expect(itself.json().error.message).toBe('hotel version 2 is production: a shadow of it would only be compared with itself; shadow another version');

    // Archiving the shadow's version ends the shadow too (it could no longer load).
    await call('POST', '/v1/models/hotel/promote', { version: 1 });
    expect((await call('POST', '/v1/shadow', { model: 'hotel', version: 3 })).statusCode).toBe(200);
    expect((await call('POST', '/v1/models/hotel/promote', { version: 3, target: 'archived' })).statusCode).toBe(200);
    expect((await call('GET', '/v1/canary/hotel')).json().shadow).toBeNull();
    const last = (await call('GET', '/v1/canary/hotel/events?limit=1')).json().events[0];
    expect(last).toMatchObject({ event: 'shadow_stop', details: { shadow_version: 3, reason: 'version 3 was archived' } });
    await call('POST', '/v1/models/hotel/promote', { version: 3, target: 'active' });
  });

  schedulingOnly('each arm’s latency is its own: a fast arm beside a slow one (about 100 ms a run) is not charged for the slow one’s runs, and a slow canary is still rolled back', async () => {
    const slow = (await s.ctx.registry.register({ model: 'hotel', onnx: slowModel(v1.preprocessor), actor: 't' })).version;
    // Rows no earlier request sent, so the cache answers none of them.
    let nextRow = 5000;
    const fresh = () => {
      const i = nextRow++;
      return { payload: { ...rowPayload(data, i % data.rows), adr: 61.5 + i / 1024 } };
    };
    const sideBySide = async (production: number, canary: number) => {
      clock.advance(3_600_000); // a window of its own, apart from earlier tests' arm counts
      expect((await call('POST', '/v1/models/hotel/promote', { version: production })).statusCode).toBe(200);
      const started = await call('POST', '/v1/canary', { model: 'hotel', canary_version: canary, canary_percent: 50, min_requests: 10, analysis: { min_scored_per_arm: 10 } });
      expect(started.statusCode, started.body).toBe(200);
      await s.pool.refresh(true);
      // Which arm each key lands on (one at a time: nothing waits for the other arm here).
      const arms = new Map<string, string>();
      for (let i = 0; i < 20; i++) {
        const r = await infer(i, { routing_key: `entity-${i}`, ...fresh() });
        expect(r.statusCode, r.body).toBe(200);
        arms.set(`entity-${i}`, r.json().arm);
      }
      const keys = (arm: string) => [...arms].filter(([, a]) => a === arm).map(([k]) => k);
      expect(keys('production').length).toBeGreaterThan(2);
      expect(keys('canary').length).toBeGreaterThan(2);
      // Then all of them in one turn, the slow arm's first: the fast arm's batch waits at the
      // gate while the slow arm's 100-ms run is in flight.
      const slowArm = production === slow ? 'production' : 'canary';
      const fastArm = slowArm === 'production' ? 'canary' : 'production';
      const ordered = [...keys(slowArm), ...keys(fastArm)];
      const replies = await Promise.all(ordered.map((key) => infer(0, { routing_key: key, ...fresh() })));
      expect(replies.map((r) => r.json().arm)).toEqual(ordered.map((k) => arms.get(k)));
      await s.runtime.flush();
      const status = (await call('GET', '/v1/canary/hotel')).json();
      expect(status.arms[fastArm].scored).toBe(keys(fastArm).length * 2);
      await call('POST', '/v1/canary/hotel/stop', {});
      return { status, slowArm, fastArm };
    };

    let { status, slowArm, fastArm } = await sideBySide(slow, 1);
    // The slow arm's requests wait for their own runs: that counts.
    expect(status.arms[slowArm].p50_ms).toBeGreaterThan(50);
    // Measured end to end, half the fast canary's requests took over 100 ms (p95 in the 100–250 ms bin).
    expect(status.arms[fastArm].p95_ms).toBeLessThan(50);
    expect(status.verdict.status).toBe('healthy');
    // The per-version inference histogram measures the same way: every canary observation under 50 ms.
    const canarySeries = (await call('GET', '/metrics')).body
      .split('\n')
      .filter((l) => l.startsWith('modelgate_inference_duration_seconds_') && ['model="hotel"', 'version="1"', 'arm="canary"'].every((label) => l.includes(label)));
    const value = (name: string) =>
      Number(
        canarySeries
          .find((l) => l.startsWith(name))
          ?.split(' ')
          .at(-1),
      );
    expect(value('modelgate_inference_duration_seconds_count')).toBeGreaterThanOrEqual(status.arms.canary.scored);
    expect(value('modelgate_inference_duration_seconds_bucket{le="0.05"')).toBe(value('modelgate_inference_duration_seconds_count'));

    ({ status, slowArm, fastArm } = await sideBySide(1, slow));
    expect(status.arms[slowArm].p50_ms).toBeGreaterThan(50);
    expect(status.arms[fastArm].p95_ms).toBeLessThan(50);
    expect(status.verdict).toMatchObject({ status: 'failing', failed: { metric: 'p95_ms' } });
  });

  it('a canary or shadow whose policy gives other decisions than production is said in its status, with the policy set that fixes it', async () => {
    const bands = THREE_BANDS;
    await s.ctx.registry.register({ model: 'policies', onnx: v1.onnx, policy: { type: 'threshold', threshold: 0.4, above: 'cancel', below: 'keep' }, actor: 't' });
    await s.ctx.registry.register({ model: 'policies', onnx: v2.onnx, policy: bands, actor: 't' });
    await s.ctx.registry.register({ model: 'policies', onnx: v2.onnx, policy: { type: 'threshold', threshold: 0.6, above: 'cancel', below: 'keep' }, actor: 't' });
    await s.ctx.registry.promote({ model: 'policies', target: 'production', version: 1, actor: 't' });
    const status = async () => (await call('GET', '/v1/canary/policies')).json() as { warnings: string[] };
    expect((await call('POST', '/v1/canary', { model: 'policies', canary_version: 2, canary_percent: 10 })).statusCode).toBe(200);
    expect((await status()).warnings).toEqual([
      "canary version 2 decides allow, review, block and production (version 1) keep, cancel: the clients the canary answers get decisions production never gives, and the arms' decision rates compare unlike things; a version of it with production's policy: modelgate policy set --model policies --version 2 --policy threshold=0.4:cancel:keep",
    ]);
    // Another threshold, the same decisions: nothing to say.
    expect((await call('POST', '/v1/canary/policies/stop', {})).statusCode).toBe(200);
    expect((await call('POST', '/v1/canary', { model: 'policies', canary_version: 3, canary_percent: 10 })).statusCode).toBe(200);
    expect((await status()).warnings).toEqual([]);
    expect((await call('POST', '/v1/shadow', { model: 'policies', version: 2 })).statusCode).toBe(200);
    expect((await status()).warnings).toEqual([
      expect.stringMatching(/^shadow version 2 decides allow, review, block and production \(version 1\) keep, cancel: its decisions cannot agree with production's;/),
    ]);
    await call('POST', '/v1/shadow/policies/stop', {});
    await call('POST', '/v1/canary/policies/stop', {});
    // Promoted anyway from a canary: its answer says it, as a promote's does; one deciding alike says nothing.
    expect((await call('POST', '/v1/canary', { model: 'policies', canary_version: 2, canary_percent: 10 })).statusCode).toBe(200);
    const fromCanary = await call('POST', '/v1/canary/policies/promote', { canary_version: 2 });
    expect(fromCanary.statusCode).toBe(200);
    expect(fromCanary.json().warnings).toEqual([
      'production of policies now decides allow, review, block (version 2) where version 1 decided keep, cancel: its clients get decisions they were never given; if that was not meant, roll back (modelgate rollback --model policies)',
    ]);
    expect((await call('POST', '/v1/models/policies/rollback', { version: 2 })).statusCode).toBe(200);
    expect((await call('POST', '/v1/canary', { model: 'policies', canary_version: 3, canary_percent: 10 })).statusCode).toBe(200);
    const alike = await call('POST', '/v1/canary/policies/promote', { canary_version: 3 });
    expect(alike.json()).toMatchObject({ version: 3, previous_version: 1 });
    expect(alike.json().warnings).toBeUndefined();
    expect((await call('POST', '/v1/models/policies/rollback', { version: 3 })).statusCode).toBe(200);

    // Multiclass: the decisions come from the classes. Production maps each class to a decision; one version gives the classes themselves, one folds Spain into Germany.
    const geo = kindFixture('bank_geography');
    // The bank data's dirty Geography column has a "?" class beside the three countries.
    expect(geo.expected.classes).toEqual(['?', 'France', 'Germany', 'Spain']);
    const map = (spain: string) => ({ type: 'class_map' as const, decisions: { '?': 'unknown', France: 'France', Germany: 'Germany', Spain: spain } });
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, policy: map('Spain'), actor: 't' });
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, policy: { type: 'label' }, actor: 't' });
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, policy: map('Germany'), actor: 't' });
    await s.ctx.registry.promote({ model: 'geo', target: 'production', version: 1, actor: 't' });
    const geoStatus = async () => (await call('GET', '/v1/canary/geo')).json() as { warnings: string[] };
    expect((await call('POST', '/v1/canary', { model: 'geo', canary_version: 2, canary_percent: 10 })).statusCode).toBe(200);
    expect((await geoStatus()).warnings).toEqual([
      "canary version 2 decides ?, France, Germany, Spain and production (version 1) unknown, France, Germany, Spain: the clients the canary answers get decisions production never gives, and the arms' decision rates compare unlike things",
    ]);
    await call('POST', '/v1/canary/geo/stop', {});
    expect((await call('POST', '/v1/canary', { model: 'geo', canary_version: 3, canary_percent: 10 })).statusCode).toBe(200);
    expect((await geoStatus()).warnings).toEqual([
      "canary version 3 decides unknown, France, Germany and production (version 1) unknown, France, Germany, Spain: the clients the canary answers never get Spain, which production gives, and the arms' decision rates compare unlike things",
    ]);
    await call('POST', '/v1/canary/geo/stop', {});
    // The model's listing gives each version's decisions, from its classes.
    const versions = (await call('GET', '/v1/models/geo')).json().versions as { version: number; decisions: string[] }[];
    expect(versions.map((v) => v.decisions)).toEqual([
      ['unknown', 'France', 'Germany', 'Spain'],
      ['?', 'France', 'Germany', 'Spain'],
      ['unknown', 'France', 'Germany'],
    ]);
    // Promoted anyway: said, with what its clients no longer get.
    const promoted = await call('POST', '/v1/models/geo/promote', { version: 3 });
    expect(promoted.json().warnings).toEqual([
      'production of geo now decides unknown, France, Germany (version 3) where version 1 decided unknown, France, Germany, Spain: its clients no longer get Spain; if that was not meant, roll back (modelgate rollback --model geo)',
    ]);
  });

  it('a canary of a version that takes none of production’s inputs is refused unless accepted; accepted, it runs and its promotion goes through', async () => {
    await s.ctx.registry.register({ model: 'mixup', onnx: v1.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'mixup', onnx: fixture('telco_churn').onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'mixup', target: 'production', version: 1, actor: 't' });
    const refused = await call('POST', '/v1/canary', { model: 'mixup', canary_version: 2, canary_percent: 10 });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().error.message).toMatch(
      /^version 2 of mixup takes none of version 1's features \(its 19: SeniorCitizen, .*\): requests made for version 1 are refused \(400\) without .*; no canary started\. Is mixup the model you meant\?/,
    );
    expect(refused.json().error.details).toMatchObject({ field: 'accept_new_inputs', version: 2, previous_version: 1 });
    expect((await call('GET', '/v1/canary/mixup')).json().canary_version).toBeNull();
    const started = await call('POST', '/v1/canary', { model: 'mixup', canary_version: 2, canary_percent: 10, accept_new_inputs: true });
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json().canary_version).toBe(2);
    // Its promotion completes the canary that was accepted: not asked again.
    const promoted = await call('POST', '/v1/canary/mixup/promote', { canary_version: 2 });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect((await call('GET', '/v1/models/mixup')).json().aliases.production).toBe(2);
  });
});
