import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/monitoring/index.js';
import type { ReferenceProfile } from '../src/registry/index.js';
import { indexSplit, rowPayload, trainModel, TRAINED_CELL_READING, type Dataset } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { aucByPairs, averagePrecisionByRanks, psiByHand } from './helpers/independent.js';

const demo = demoModel();
const N = 300;

/** No NaN or Infinity anywhere (JSON would have turned them into null silently, so walk the object). */
function assertFinite(v: unknown, at = '$'): void {
  if (typeof v === 'number') expect(Number.isFinite(v), at).toBe(true);
  else if (Array.isArray(v)) v.forEach((x, i) => assertFinite(x, `${at}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) assertFinite(x, `${at}.${k}`);
}

for (const dialect of DIALECTS) {
  describe(`monitoring on ${dialect}`, () => {
    let s: TestServer;
    const served: { id: string; score: number; decision: string; lead: number; label: number }[] = [];
    const post = async (url: string, body: unknown) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };
    const get = async (url: string) => {
      const res = await s.app.inject({ method: 'GET', url, headers: s.auth });
      return { status: res.statusCode, body: res.json() };
    };

    beforeAll(async () => {
      // Small windows on purpose (300 and 20 predictions): the data thresholds are lowered to them.
      s = await startTestServer({ dialect, jobs: false, env: { MONITOR_MIN_ROWS: '20', MONITOR_MIN_LABELS: '100' } });
      await s.ctx.registry.register({
        model: 'hotel',
        onnx: demo.onnx,
        manifest: { reference: demo.reference, metrics: demo.metrics, training: demo.run },
        policy: { type: 'threshold', threshold: demo.threshold, above: 'act', below: 'none' },
        actor: 't',
      });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      await s.ctx.registry.register({ model: 'bare', onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'bare', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      // Live traffic where lead_time has tripled (drift) and everything else is as in training.
      for (let i = 0; i < N; i++) {
        const payload = rowPayload(demo.holdout.data, i);
        const lead = Number(payload.lead_time) * 3;
        const r = await post('/v1/infer', { model: 'hotel', payload: { ...payload, lead_time: lead } });
        expect(r.status).toBe(200);
        served.push({ id: r.body.prediction_id, score: r.body.score, decision: r.body.decision, lead, label: demo.holdout.data.label[i] });
      }
      await post('/v1/infer', { model: 'bare', payload: rowPayload(demo.holdout.data, 0) });
      await s.audit.flush();
      // Outcomes for the first 200 only: coverage 2/3.
      const fb = await post('/v1/feedback', { items: served.slice(0, 200).map((p) => ({ prediction_id: p.id, label: p.label })) });
      expect(fb.body.stored).toBe(200);
    });
    afterAll(() => s?.stop());

    it('reports feature drift, prediction drift, action rate and performance that match independent computations', async () => {
      const empty = await post('/v1/monitoring/hotel/run', { window: '0m' });
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toBe('body.window: a window of 0m holds no traffic; give a length such as 1h, 24h or 7d');
      const r = await post('/v1/monitoring/hotel/run', { window: '1h' });
      expect(r.status).toBe(200);
      const report = r.body as Report;
      assertFinite(report);
      expect(report).toMatchObject({ format: 'modelgate.report/v1', model: 'hotel', version: 1, predictions: N, reference: { available: true } });

      const lead = report.features.find((f) => f.name === 'lead_time')!;
      const ref = demo.reference.features.lead_time;
      if (ref.type !== 'numeric') throw new Error('lead_time should be numeric');
      expect(lead.psi).toBeCloseTo(
        psiByHand(
          ref.edges,
          ref.counts,
          served.map((p) => p.lead),
        ),
        10,
      );
      expect(lead.psi!).toBeGreaterThan(0.2);
      expect(lead.drifted).toBe(true);
      expect(lead.ks_statistic!).toBeGreaterThan(0.2);
      expect(lead.ks_p_value!).toBeLessThan(0.001);
      // Unchanged features stay near zero (sampling noise of 300 rows over 10 bins).
      const adr = report.features.find((f) => f.name === 'adr')!;
      expect(adr.psi!).toBeLessThan(0.1);
      expect(adr.drifted).toBe(false);
      const hotel = report.features.find((f) => f.name === 'hotel')!;
      expect(hotel).toMatchObject({ type: 'categorical', ks_statistic: null, missing_rate: 0 });
      expect(hotel.js_distance!).toBeLessThan(0.2);

      const acted = served.filter((p) => p.decision === 'act').length;
      expect(report.action_rate.window).toBeCloseTo(acted / N, 12);
      expect(report.action_rate.decisions).toEqual(['act']);

      const labelled = served.slice(0, 200);
      expect(report.performance.labelled).toBe(200);
      expect(report.performance.label_coverage).toBeCloseTo(200 / N, 12);
      expect(report.performance.roc_auc).toBeCloseTo(
        aucByPairs(
          labelled.map((p) => p.score),
          labelled.map((p) => p.label),
        ),
        10,
      );
      expect(report.performance.pr_auc).toBeCloseTo(
        averagePrecisionByRanks(
          labelled.map((p) => p.score),
          labelled.map((p) => p.label),
        ),
        10,
      );
      const brier = labelled.reduce((a, p) => a + (p.score - p.label) ** 2, 0) / labelled.length;
      expect(report.performance.brier).toBeCloseTo(brier, 10);
      // The trainer's cost matrix: +30 for acting on a cancellation, −20 for acting on a stay.
      const profit = labelled.reduce((a, p) => a + (p.decision === 'act' ? (p.label ? 30 : -20) : 0), 0);
      expect(report.performance.realized_profit).toBe(profit);
      expect(report.alerts.find((a) => a.name === 'high_psi')).toMatchObject({ firing: true, value: lead.psi, threshold: 0.2 });

      // The distribution the console charts: shares of the reference's own counts, and of the
      // window's tripled lead times binned by hand on the reference's edges.
      const shares = (c: number[]) => c.map((x) => x / c.reduce((a, b) => a + b, 0));
      expect(lead.distribution.reference).toEqual(shares(ref.counts).map((x) => expect.closeTo(x, 12) as unknown));
      const byHand = new Array<number>(ref.edges.length + 1).fill(0);
      for (const p of served) byHand[ref.edges.findIndex((e) => p.lead <= e) === -1 ? ref.edges.length : ref.edges.findIndex((e) => p.lead <= e)]++;
      expect(lead.distribution.window).toEqual(shares(byHand).map((x) => expect.closeTo(x, 12) as unknown));
      expect(lead.distribution.bins).toHaveLength(ref.edges.length + 1);
      expect(lead.distribution.bins[0]).toBe(`≤ ${Number(ref.edges[0].toPrecision(4))}`);
      expect(hotel.distribution.bins.at(-1)).toBe('(other)');
    });

    it('stores reports: latest, history with a cursor, one by id', async () => {
      const latest = await get('/v1/monitoring/hotel/latest');
      expect(latest.status).toBe(200);
      await post('/v1/monitoring/hotel/run', { window: '1h' });
      const page1 = await get('/v1/monitoring/hotel/history?limit=1');
      expect(page1.body.reports).toHaveLength(1);
      expect(page1.body.reports[0]).toMatchObject({ model: 'hotel', version: 1, predictions: N, alerts_firing: expect.arrayContaining(['high_psi']) });
      const page2 = await get(`/v1/monitoring/hotel/history?limit=1&cursor=${page1.body.next_cursor}`);
      expect(page2.body.reports).toHaveLength(1);
      expect(page2.body.reports[0].id).not.toBe(page1.body.reports[0].id);
      const one = await get(`/v1/monitoring/hotel/reports/${page2.body.reports[0].id}`);
      expect(one.body).toMatchObject({ model: 'hotel', format: 'modelgate.report/v1' });
      expect((await get('/v1/monitoring/nobody/latest')).status).toBe(404);
      expect((await get('/v1/monitoring/hotel/history?cursor=garbage')).status).toBe(400);
      // With metrics=true each summary carries the numbers charted over time, read from its own report.
      const withMetrics = await get('/v1/monitoring/hotel/history?limit=2&metrics=true');
      for (const summary of withMetrics.body.reports) {
        const full = (await get(`/v1/monitoring/hotel/reports/${summary.id}`)).body as Report;
        expect(summary.metrics).toMatchObject({
          worst_feature_psi: Math.max(...full.features.map((f) => f.psi ?? -Infinity)),
          prediction_psi: full.prediction_drift.psi,
          roc_auc: full.performance.roc_auc,
          action_rate: full.action_rate.window,
        });
      }
      expect(page1.body.reports[0].metrics).toBeUndefined();
    });

    it('a version without a reference profile says so instead of giving drift numbers', async () => {
      const r = await post('/v1/monitoring/bare/run', {});
      expect(r.status).toBe(200);
      assertFinite(r.body);
      expect(r.body).toMatchObject({
        reference: { available: false, reason: expect.stringMatching(/^version \d+ has no reference profile: register it with --reference CSV/) },
        features: [],
        drifted_share: null,
        prediction_drift: { psi: null },
      });
      expect(r.body.notes.join(' ')).toMatch(/no reference profile/);
    });

    it('an empty window: zero predictions, nulls and notes, never NaN', async () => {
      const later = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, clock: { now: () => new Date(Date.now() + 30 * 86_400_000) } });
      try {
        const r = await later.app.inject({ method: 'POST', url: '/v1/monitoring/hotel/run', headers: { ...later.auth, 'content-type': 'application/json' }, payload: '{"window":"1h"}' });
        const body = r.json() as Report;
        assertFinite(body);
        expect(body).toMatchObject({ predictions: 0, action_rate: { window: null, trailing_7d: null }, performance: { labelled: 0, roc_auc: null } });
        expect(body.features.every((f) => f.psi === null)).toBe(true);
        expect(body.notes.join(' ')).toMatch(/no predictions/);
      } finally {
        await later.stop();
      }
    });

    it('all-missing and unprofiled features: missing rate 1 and no PSI, a note for the feature the reference lacks, never NaN', async () => {
      const { adr: _dropped, ...partial } = demo.reference.features;
      await s.ctx.registry.register({ model: 'gaps', onnx: demo.onnx, manifest: { reference: { ...demo.reference, features: partial } }, actor: 't' });
      await s.ctx.registry.promote({ model: 'gaps', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      for (let i = 0; i < 20; i++) {
        const r = await post('/v1/infer', { model: 'gaps', payload: { ...rowPayload(demo.holdout.data, i), previous_cancellations: null } });
        expect(r.status).toBe(200);
      }
      await s.audit.flush();
      const r = await post('/v1/monitoring/gaps/run', { window: '1h' });
      assertFinite(r.body);
      const prev = (r.body as Report).features.find((f) => f.name === 'previous_cancellations')!;
      expect(prev).toMatchObject({ count: 20, missing_rate: 1, psi: null, ks_statistic: null, drifted: false });
      expect((r.body as Report).features.find((f) => f.name === 'adr')).toBeUndefined();
      expect((r.body as Report).notes.join(' ')).toMatch(/no distribution for adr/);
    });

    it('the scheduled job: one leader makes the report, every replica exports its figures as gauges', async () => {
      const other = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, env: { MONITOR_INTERVAL: '1h', MONITOR_MIN_ROWS: '20' } });
      try {
        const before = (await get('/v1/monitoring/gaps/history?limit=200')).body.reports.length;
        // The newest stored report (the previous test's) is fresh, so neither replica makes one now…
        await Promise.all([s.monitorJob.tick(), other.monitorJob.tick()]);
        expect((await get('/v1/monitoring/gaps/history?limit=200')).body.reports.length).toBe(before);
        // …but both show the latest report's numbers.
        const latest = (await get('/v1/monitoring/gaps/latest')).body as Report;
        for (const srv of [s, other]) {
          const text = (await srv.app.inject({ method: 'GET', url: '/metrics' })).body;
          const psiLine = text.split('\n').find((l) => l.startsWith('modelgate_feature_psi{model="gaps",feature="lead_time"}'))!;
          expect(Number(psiLine.split(' ')[1])).toBeCloseTo(latest.features.find((f) => f.name === 'lead_time')!.psi!, 9);
          expect(text).toContain(`modelgate_monitor_last_run_timestamp_seconds{model="gaps"} ${Date.parse(latest.generated_at) / 1000}`);
          for (const a of latest.alerts) expect(text).toContain(`modelgate_monitor_alert{model="gaps",alert="${a.name}"} ${a.firing ? 1 : 0}`);
          expect(text).toMatch(new RegExp(`modelgate_action_rate\\{model="gaps"\\} ${latest.action_rate.window}`));
          // No feedback for this model: no AUC series rather than NaN.
          expect(text).not.toMatch(/modelgate_model_roc_auc\{model="gaps"/);
        }
      } finally {
        await other.stop();
      }
      // With a zero interval every report is due: two replicas ticking together still make one per model.
      await s.monitorJob.stop(); // hands leadership back
      const a = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, env: { MONITOR_INTERVAL: '0s', REPLICA_ID: 'replica-a' } });
      const b = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, env: { MONITOR_INTERVAL: '0s', REPLICA_ID: 'replica-b' } });
      try {
        const count = async () => (await get('/v1/monitoring/gaps/history?limit=200')).body.reports.length;
        const before = await count();
        await Promise.all([a.monitorJob.tick(), b.monitorJob.tick()]);
        expect(await count()).toBe(before + 1);
      } finally {
        await a.stop();
        await b.stop();
      }
    });

    it('too little data never alarms: 2 drifted predictions, or none, give insufficient_data, no flag, no event, no gauge value', async () => {
      const strict = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir });
      try {
        const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
          const res = await strict.app.inject({ method, url, headers: { ...strict.auth, 'content-type': 'application/json' }, ...(body ? { payload: JSON.stringify(body) } : {}) });
          return { status: res.statusCode, body: url === '/metrics' ? undefined : res.json(), text: res.body };
        };
        for (const model of ['tiny', 'silent']) {
          await strict.ctx.registry.register({ model, onnx: demo.onnx, manifest: { reference: demo.reference, metrics: demo.metrics, training: demo.run }, actor: 't' });
          await strict.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
        }
        await strict.pool.refresh(true);
        for (let i = 0; i < 2; i++) {
          const payload = rowPayload(demo.holdout.data, i);
          expect((await call('POST', '/v1/infer', { model: 'tiny', payload: { ...payload, lead_time: Number(payload.lead_time) * 40 + 300 } })).status).toBe(200);
        }
        await strict.audit.flush();
        const tiny = (await call('POST', '/v1/monitoring/tiny/run', { window: '1h' })).body as Report;
        assertFinite(tiny);
        expect(tiny.predictions).toBe(2);
        // The PSI really is huge: only the thresholds keep it from alarming.
        expect(tiny.features.find((f) => f.name === 'lead_time')!.psi!).toBeGreaterThan(1);
        expect(tiny.sufficiency).toEqual({
          status: 'insufficient_data',
          drift: { sufficient: false, predictions: 2, min_rows: 500, with_features: 2, features_sufficient: false },
          outcomes: { sufficient: false, labelled: 0, min_labels: 100 },
          message: 'insufficient data: 2 predictions in the window, 500 needed for drift flags (MONITOR_MIN_ROWS); 0 labelled predictions, 100 needed for outcome flags (MONITOR_MIN_LABELS)',
        });
        for (const a of tiny.alerts) expect(a, a.name).toMatchObject({ firing: false, value: null, detail: expect.stringMatching(/insufficient data/) });
        const silent = (await call('POST', '/v1/monitoring/silent/run', { window: '1h' })).body as Report;
        assertFinite(silent);
        expect(silent).toMatchObject({ predictions: 0, sufficiency: { status: 'insufficient_data' } });
        expect(silent.alerts.every((a) => !a.firing)).toBe(true);

        const fired = await strict.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('type', '=', 'monitor.alert.fired').execute();
        // The event's model is under data (read at the top level, this could never fail).
        const firedFor = fired.map((r) => ((typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as { data: { model: string } }).data.model);
        expect(firedFor).not.toContain('tiny');
        await strict.monitorJob.tick();
        const text = (await call('GET', '/metrics')).text;
        expect(text).not.toMatch(/modelgate_feature_psi\{model="tiny"/);
        expect(text).not.toMatch(/modelgate_prediction_psi\{model="tiny"/);
        expect(text).toContain('modelgate_monitor_alert{model="tiny",alert="high_psi"} 0');
      } finally {
        await strict.stop();
      }
    });

    it('feature drift needs MONITOR_MIN_ROWS predictions with logged features: a window audited mostly with AUDIT_FEATURES=hashed raises no feature flag from its few full rows', async () => {
      await s.ctx.registry.register({ model: 'mixed', onnx: demo.onnx, manifest: { reference: demo.reference, metrics: demo.metrics, training: demo.run }, actor: 't' });
      await s.ctx.registry.promote({ model: 'mixed', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const hashed = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, env: { AUDIT_FEATURES: 'hashed' } });
      try {
        for (let i = 0; i < 60; i++) {
          const r = await hashed.app.inject({
            method: 'POST',
            url: '/v1/infer',
            headers: { ...hashed.auth, 'content-type': 'application/json' },
            payload: JSON.stringify({ model: 'mixed', payload: rowPayload(demo.holdout.data, i) }),
          });
          expect(r.statusCode).toBe(200);
        }
        await hashed.audit.flush();
      } finally {
        await hashed.stop();
      }
      // Five with their features logged, lead_time far out of its training range.
      for (let i = 0; i < 5; i++) {
        const payload = rowPayload(demo.holdout.data, i);
        expect((await post('/v1/infer', { model: 'mixed', payload: { ...payload, lead_time: Number(payload.lead_time) * 40 + 300 } })).status).toBe(200);
      }
      await s.audit.flush();
      const report = (await post('/v1/monitoring/mixed/run', { window: '1h' })).body as Report;
      expect(report.predictions).toBe(65);
      expect(report.features.find((f) => f.name === 'lead_time')!.psi!).toBeGreaterThan(1); // measured on the five
      expect(report.sufficiency.drift).toEqual({ sufficient: true, predictions: 65, min_rows: 20, with_features: 5, features_sufficient: false });
      expect(report.sufficiency.message).toMatch(/5 of the 65 predictions have logged features, 20 needed for feature drift flags/);
      expect(report.alerts.find((a) => a.name === 'high_psi')).toMatchObject({
        firing: false,
        value: null,
        detail: expect.stringMatching(/^insufficient data: 5 predictions with logged features of the 20 needed/),
      });
      expect(report.alerts.find((a) => a.name === 'retrain_recommended')!.firing).toBe(false);
      expect(report.notes.join(' ')).toMatch(/features were logged for 5 of the 65 predictions/);
      // Nor a feature PSI gauge from those five; the prediction PSI, from all 65, is exported.
      const gauges = await startTestServer({ dialect, jobs: false, db: s.db, dataDir: s.dataDir, env: { MONITOR_INTERVAL: '1h', MONITOR_MIN_ROWS: '20' } });
      try {
        await gauges.monitorJob.tick();
        const text = (await gauges.app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(text).toMatch(/modelgate_prediction_psi\{model="mixed"\} /);
        expect(text).not.toMatch(/modelgate_feature_psi\{model="mixed"/);
        expect(text).not.toMatch(/modelgate_drifted_feature_share\{model="mixed"/);
      } finally {
        await gauges.stop();
      }
    });

    it('bad requests: unknown model 404, model without production 409, bad window 400, non-admin 403', async () => {
      expect((await post('/v1/monitoring/nobody/run', {})).status).toBe(404);
      await s.ctx.registry.register({ model: 'staged', onnx: demo.onnx, actor: 't' });
      expect(await post('/v1/monitoring/staged/run', {})).toMatchObject({ status: 409, body: { error: { message: expect.stringMatching(/no production version/) } } });
      expect((await post('/v1/monitoring/hotel/run', { window: 'soon' })).status).toBe(400);
      const reader = (await s.ctx.access.create({ name: 'r', scopes: ['read'], actor: 't' })).token;
      const res = await s.app.inject({ method: 'POST', url: '/v1/monitoring/hotel/run', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, payload: '{}' });
      expect(res.statusCode).toBe(403);
    });
  });
}

describe('prediction drift of a tree model the trainer made (SQLite)', () => {
  /**
   * Five values of one feature, 10 % to 70 % positive by value: gradient-boosted trees give a
   * handful of scores, each held by hundreds of rows, so every decile edge of the reference is one
   * of them. The model registered as `trees` on a server of its own (to be stopped by the caller).
   */
  async function treesServer() {
    const rows = 2000;
    const x = Float64Array.from({ length: rows }, (_, i) => i % 5);
    const label = Uint8Array.from({ length: rows }, (_, i) => ((i * 7919) % 100 < 10 + 15 * (i % 5) ? 1 : 0));
    const data: Dataset = { rows, numeric: { x }, categorical: {}, label };
    const t = trainModel({ data, algo: 'gbdt', split: indexSplit(data, 0.25) });
    const s = await startTestServer({ dialect: 'sqlite', jobs: false, env: { MONITOR_MIN_ROWS: '20', MONITOR_MIN_LABELS: '100' } });
    await s.ctx.registry.register({ model: 'trees', onnx: t.onnx, manifest: { ...TRAINED_CELL_READING, reference: t.reference, metrics: t.metrics, training: t.run }, policy: t.policy, actor: 't' });
    return { s, t, x, label };
  }

  it('its own training rows, served, show none: scores a float32 rounding off the reference edges they tie with count at them', async () => {
    const { s, t, x, label } = await treesServer();
    expect(new Set(t.testScores).size).toBeLessThanOrEqual(5);
    try {
      await s.ctx.registry.promote({ model: 'trees', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const scores: number[] = [];
      const decisions: string[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 500; i++) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'trees', payload: { x: x[i] } } });
        expect(r.statusCode, r.body).toBe(200);
        scores.push(r.json().score);
        decisions.push(r.json().decision);
        ids.push(r.json().prediction_id);
      }
      // The rows' own outcomes: the scores were fitted to them.
      const outcomes = (items: { prediction_id: string; label: number }[]) => s.app.inject({ method: 'POST', url: '/v1/feedback', headers: s.auth, payload: { items } });
      expect((await outcomes(ids.map((id, i) => ({ prediction_id: id, label: label[i] })))).statusCode).toBe(200);
      // The held-out rows (every fourth, index split) are decided as the trainer decided them.
      const threshold = (t.policy as { threshold: number }).threshold;
      const held = Array.from({ length: 125 }, (_, k) => 4 * k);
      expect(held.map((i) => decisions[i])).toEqual(held.map((i) => (t.testScores[i / 4] >= threshold ? 'act' : 'none')));
      await s.audit.flush();
      // The served scores are not the trainer's float64 ones to the last digit (else there would be nothing to test).
      const edges = t.reference.score.edges;
      expect(scores.some((v) => !edges.includes(v) && edges.some((e) => Math.abs(v - e) < 1e-6))).toBe(true);
      const r = await s.app.inject({ method: 'POST', url: '/v1/monitoring/trees/run', headers: s.auth, payload: { window: '1h' } });
      expect(r.statusCode, r.body).toBe(200);
      const report = r.json() as Report;
      // By hand: the window's rows are x = 0..4 in equal shares, as the training rows are.
      expect(report.prediction_drift.psi!).toBeLessThan(0.01);
      expect(report.features.find((f) => f.name === 'x')!.psi!).toBeLessThan(0.01);
      expect(report.alerts.find((a) => a.name === 'prediction_drift')).toMatchObject({ firing: false, value: report.prediction_drift.psi, threshold: 0.2 });
      // Calibration in the large, by hand: the mean served score against the share of positives.
      const mean = scores.reduce((a, b) => a + b, 0) / 500;
      const rate = ids.reduce((a, _, i) => a + label[i], 0) / 500;
      expect(report.performance).toMatchObject({ mean_score: expect.closeTo(mean, 12), positive_rate: expect.closeTo(rate, 12) });
      expect(report.alerts.find((a) => a.name === 'miscalibrated')).toMatchObject({ firing: false, value: expect.closeTo(Math.max(mean / rate, rate / mean), 12), threshold: 1.5 });
      // Then 500 requests of x = 4 alone: 60 % of the window's scores in the reference's top fifth.
      const late: string[] = [];
      for (let i = 0; i < 500; i++) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'trees', payload: { x: 4 } } });
        expect(r.statusCode).toBe(200);
        late.push(r.json().prediction_id);
      }
      // None of them was positive, where the scores said about 70 %: the probabilities no longer match outcomes.
      expect((await outcomes(late.map((id) => ({ prediction_id: id, label: 0 })))).statusCode).toBe(200);
      await s.audit.flush();
      const shifted = (await s.app.inject({ method: 'POST', url: '/v1/monitoring/trees/run', headers: s.auth, payload: { window: '1h' } })).json() as Report;
      expect(shifted.prediction_drift.psi!).toBeGreaterThan(0.2);
      expect(shifted.alerts.find((a) => a.name === 'prediction_drift')).toMatchObject({ firing: true, value: shifted.prediction_drift.psi, detail: "PSI of the scores against the reference's" });
      const { mean_score: m, positive_rate: p } = shifted.performance as { mean_score: number; positive_rate: number };
      expect(p).toBeCloseTo(rate / 2, 12);
      expect(shifted.alerts.find((a) => a.name === 'miscalibrated')).toMatchObject({ firing: true, value: expect.closeTo(m / p, 12) });
      expect(m / p).toBeGreaterThan(1.5);
      const fired = await s.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('type', '=', 'monitor.alert.fired').execute();
      expect(fired.map((r) => (JSON.parse(String(r.payload)) as { data: { alert: string } }).data.alert)).toContain('prediction_drift');
    } finally {
      await s.stop();
    }
  });

  it('a policy set since training is not judged against the F1 measured at the old threshold', async () => {
    const { s, t, label } = await treesServer();
    try {
      // Act on the highest of the five scores alone (x = 4): the chosen threshold acted on more.
      const [top, next] = [...new Set(t.testScores)].sort((a, b) => b - a);
      const v2 = await s.ctx.registry.withPolicy({ model: 'trees', from: 1, policy: { type: 'threshold', threshold: (top + next) / 2, above: 'act', below: 'none' }, actor: 't' });
      await s.ctx.registry.promote({ model: 'trees', target: 'production', version: v2.version, actor: 't' });
      await s.pool.refresh(true);
      // The training rows again, with their own outcomes: nothing drifted, nothing got worse.
      const items: { prediction_id: string; label: number }[] = [];
      for (let i = 0; i < 500; i++) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'trees', payload: { x: i % 5 } } });
        expect(r.statusCode, r.body).toBe(200);
        items.push({ prediction_id: r.json().prediction_id, label: label[i] });
      }
      expect((await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: s.auth, payload: { items } })).statusCode).toBe(200);
      await s.audit.flush();
      const report = (await s.app.inject({ method: 'POST', url: '/v1/monitoring/trees/run', headers: s.auth, payload: { window: '1h' } })).json() as Report;
      expect(report.version).toBe(v2.version);
      // At this threshold F1 reads far below training's at the old one: by hand, recall is the share of positives at x = 4.
      const positives = items.filter((x) => x.label === 1).length;
      const caught = items.filter((x, i) => x.label === 1 && i % 5 === 4).length;
      expect(report.performance.recall).toBeCloseTo(caught / positives, 12);
      expect(report.performance.f1!).toBeLessThan(t.metrics.f1 * 0.9);
      // The figures of the old threshold are not the new version's: only ROC AUC is compared, and it held.
      expect(Object.keys(report.performance.training).sort()).toEqual(['brier', 'log_loss', 'positive_rate', 'pr_auc', 'roc_auc']);
      expect(report.alerts.find((a) => a.name === 'retrain_recommended')).toMatchObject({ firing: false });
      expect(report.action_rate.reference).toBeNull();
      const m = (await s.ctx.registry.getVersion('trees', v2.version)).manifest;
      expect(m.metrics).toEqual({ roc_auc: t.metrics.roc_auc, pr_auc: t.metrics.pr_auc, log_loss: t.metrics.log_loss, brier: t.metrics.brier, positive_rate: t.metrics.positive_rate });
      expect((m.reference as ReferenceProfile).metrics).toEqual(m.metrics);
      expect((m.reference as ReferenceProfile).action_rate).toBeNull();
      expect(m.training).toMatchObject({ metrics_left_out: ['f1', 'precision', 'recall', 'action_rate'] });
    } finally {
      await s.stop();
    }
  });

  it('scores fitted to another base rate recommend retraining, with nothing drifted and no metric down', async () => {
    const { s, t } = await treesServer();
    try {
      await s.ctx.registry.promote({ model: 'trees', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      // The training mix of x, so no feature drifts; the outcomes rank as the scores do, at about twice the rate.
      const rate = [20, 50, 80, 100, 100];
      const items: { prediction_id: string; label: number }[] = [];
      const scores: number[] = [];
      for (let i = 0; i < 500; i++) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'trees', payload: { x: i % 5 } } });
        expect(r.statusCode, r.body).toBe(200);
        scores.push(r.json().score);
        items.push({ prediction_id: r.json().prediction_id, label: (i * 7919) % 100 < rate[i % 5] ? 1 : 0 });
      }
      expect((await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: s.auth, payload: { items } })).statusCode).toBe(200);
      await s.audit.flush();
      const report = (await s.app.inject({ method: 'POST', url: '/v1/monitoring/trees/run', headers: s.auth, payload: { window: '1h' } })).json() as Report;
      const byName = (n: string) => report.alerts.find((a) => a.name === n)!;
      expect(byName('high_psi').firing).toBe(false);
      expect(report.drifted_share).toBe(0);
      // ROC AUC and F1 at or above training's: no metric drop.
      expect(report.performance.roc_auc!).toBeGreaterThan(t.metrics.roc_auc * 0.95);
      expect(report.performance.f1!).toBeGreaterThan(t.metrics.f1 * 0.95);
      // By hand: the share of positives over the mean served score.
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      const positives = items.filter((i) => i.label === 1).length / items.length;
      expect(positives / mean).toBeGreaterThan(1.5);
      expect(byName('miscalibrated')).toMatchObject({ firing: true, value: expect.closeTo(positives / mean, 12) });
      expect(byName('retrain_recommended')).toMatchObject({
        firing: true,
        value: expect.closeTo(positives / mean, 12),
        threshold: 1.5,
        detail: expect.stringMatching(/^miscalibrated: scores average /),
      });
    } finally {
      await s.stop();
    }
  });
});

describe('monitoring from the command line (SQLite)', () => {
  it('register --reference CSV --target profiles imported data; monitor --out writes the report atomically', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const onnx = path.join(dir, 'model.onnx');
    writeFileSync(onnx, demo.onnx);
    const d = demo.holdout.data;
    const cols = [...Object.keys(d.numeric), ...Object.keys(d.categorical)];
    const lines = [[...cols, 'is_canceled'].join(',')];
    for (let i = 0; i < d.rows; i++) {
      const p = rowPayload(d, i);
      // Missing values the way CSV exports write them.
      lines.push([...cols.map((c) => (p[c] === null ? (i % 2 ? 'NA' : '') : String(p[c]))), d.label[i] ? 'yes' : 'no'].join(','));
    }
    const csv = path.join(dir, 'reference.csv');
    writeFileSync(csv, `${lines.join('\n')}\n`);

    const reg = await runCli(['register', '--model', 'hotel', '--onnx', onnx, '--reference', csv, '--target', 'is_canceled', '--json'], env);
    expect(reg.code, reg.stderr).toBe(0);
    expect(reg.json()).toMatchObject({ version: 1, reference: { rows: d.rows, skipped: 0 } });
    // What monitoring will compare live outcomes with, said at registration: the reference rows' ROC AUC, counted by pairs.
    expect(reg.json().reference.metrics.roc_auc).toBeCloseTo(aucByPairs(Array.from(demo.holdout.scores), Array.from(d.label)), 3);
    const shown = await runCli(['models', 'hotel', '--json'], env);
    expect(shown.code).toBe(0);
    await runCli(['promote', '--model', 'hotel', '--version', '1'], env);

    // A window of nothing is refused, not run and stored as an empty report (the history showed it as the latest).
    const none = await runCli(['monitor', '--model', 'hotel', '--window', '0s'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error: --window: a window of 0s holds no traffic; give a length such as 1h, 24h or 7d');
    // The scheduled reports' window too: refused with the other settings, before the server loads anything.
    const serve = await runCli(['serve', '--port', '0'], { ...env, MONITOR_WINDOW: '0h' });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('MONITOR_WINDOW="0h": a window of nothing holds no traffic; give a length such as 1h, 24h or 7d');
    expect(serve.stdout).not.toContain('model version loaded');
    const out = path.join(dir, 'reports', 'monitoring', 'latest_monitoring_report.json');
    const mon = await runCli(['monitor', '--model', 'hotel', '--window', '24h', '--out', out, '--json'], env);
    expect(mon.code, mon.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
    expect(report).toMatchObject({ model: 'hotel', version: 1, predictions: 0, reference: { available: true, rows: d.rows } });
    expect(mon.json()).toEqual(report);

    const html = path.join(dir, 'drift.html');
    const page = await runCli(['monitor', '--model', 'hotel', '--html', html], env);
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toContain(`report written to ${html}`);
    // The drift table's PSI column ends where its heading does on every row, the longest name's (27 characters) too.
    const printed = page.stdout.split('\n');
    const heading = printed.findIndex((l) => l.startsWith('feature '));
    const rows = printed.slice(heading, printed.indexOf('', heading));
    expect(rows.some((l) => l.startsWith('required_car_parking_spaces '))).toBe(true);
    expect(new Set(rows.map((l) => /^\S+\s+\S+/.exec(l)![0].length))).toEqual(new Set([/^\S+\s+\S+/.exec(rows[0])![0].length]));
    const text = readFileSync(html, 'utf8');
    const data = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(text);
    expect(JSON.parse(data![1])).toMatchObject({ model: 'hotel', version: 1, reference: { available: true, rows: d.rows } });
    // Self-contained: nothing is loaded from anywhere.
    expect(text).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);

    // Traffic with categories the reference never had: the text report names them, as the HTML one does.
    const served = await startTestServer({ db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') }, dataDir: dir, jobs: false });
    try {
      await served.pool.refresh(true);
      const items: { prediction_id: string; label: number }[] = [];
      for (let i = 0; i < 40; i++) {
        const payload = { ...rowPayload(d, i), ...(i < 30 ? { hotel: 'Boutique Hotel' } : { market_segment: 'Space' }) };
        const r = await served.app.inject({ method: 'POST', url: '/v1/infer', headers: served.auth, payload: { model: 'hotel', payload } });
        expect(r.statusCode, r.body).toBe(200);
        items.push({ prediction_id: r.json().prediction_id, label: d.label[i] });
      }
      await served.audit.flush();
      expect(new Set(items.map((x) => x.label)).size).toBe(2);
      const fb = await served.app.inject({ method: 'POST', url: '/v1/feedback', headers: served.auth, payload: { items } });
      expect(fb.statusCode, fb.body).toBe(200);
    } finally {
      await served.stop();
    }
    const named = await runCli(['monitor', '--model', 'hotel'], env);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toMatch(/^values the reference never had:\n( {2}\S+: .*\n){2}/m);
    expect(named.stdout).toMatch(/^feedback on 40 predictions \(coverage 1\.000\): ROC AUC \d\.\d{3}, PR AUC \d\.\d{3}, F1 /m);
    expect(named.stdout).toMatch(/^ {2}hotel: "Boutique Hotel" 30$/m);
    expect(named.stdout).toMatch(/^ {2}market_segment: "Space" 10$/m);

    const bad = await runCli(['register', '--model', 'hotel', '--onnx', onnx, '--reference', csv, '--target', 'hotel'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--target hotel: line 2 has "(City|Resort) Hotel"; a target must be 0\/1, yes\/no or true\/false/);
    // A reference whose categories the version does not know is profiled, and said.
    expect(reg.stderr).not.toMatch(/categories this version does not know/);
    const typos = path.join(dir, 'reference-typos.csv');
    writeFileSync(typos, readFileSync(csv, 'utf8').replaceAll(',Resort Hotel,', ',resort-hotel,'));
    const typo = await runCli(['register', '--model', 'hotel', '--onnx', onnx, '--reference', typos, '--target', 'is_canceled'], env);
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stderr).toMatch(/warning: categories this version does not know, scored as unseen ones: hotel in \d+ rows \("resort-hotel" \d+, did you mean "Resort Hotel"\?\)/);
  });
});
