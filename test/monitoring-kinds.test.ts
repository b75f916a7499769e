import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Servable } from '../src/inference/index.js';
import { referenceFromCsv, type Report } from '../src/monitoring/index.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Monitoring of multiclass and regression models: prediction drift on the class mix or the
 * value distribution, outcome metrics from feedback of their kind, and the per-kind alert flags
 * and gauges. Expected numbers are counted here from onnxruntime's recorded outputs.
 */
const geo = kindFixture('bank_geography');
const charges = kindFixture('telco_charges');
const argmax = (p: number[]) => p.indexOf(Math.max(...p));
/** PSI of two count vectors by its definition, shares floored at 1e-4. */
const psiOfCounts = (a: number[], b: number[]) => {
  const ta = a.reduce((x, y) => x + y, 0);
  const tb = b.reduce((x, y) => x + y, 0);
  return a.reduce((s, _v, i) => {
    const p = Math.max(a[i] / ta, 1e-4);
    const q = Math.max(b[i] / tb, 1e-4);
    return s + (q - p) * Math.log(q / p);
  }, 0);
};
const ortClass = geo.expected.onnxruntime.map((p) => geo.expected.classes[argmax(p)]);

const cell = (v: unknown) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
function csv(rows: Record<string, unknown>[], target: string, values: unknown[]): string {
  const cols = Object.keys(rows[0]);
  return `${[[...cols, target].join(','), ...rows.map((r, i) => [...cols.map((c) => cell(r[c])), cell(values[i])].join(','))].join('\n')}\n`;
}

for (const dialect of DIALECTS) {
  describe(`monitoring multiclass and regression models on ${dialect}`, () => {
    let s: TestServer;
    const dir = tempDir();
    const post = async (url: string, body: unknown) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };

    /** A reference profile the way `register --reference CSV --target COL` makes one. */
    async function register(model: string, onnx: Buffer, file: string, target: string, policy?: object) {
      const prep = s.ctx.registry.prepare({ model, onnx, ...(policy ? { policy: policy as never } : {}) });
      const servable = await Servable.load(
        onnx,
        { model, version: 0, contract: prep.contract, output: prep.output, policy: prep.policy },
        { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } },
      );
      try {
        const { reference } = await referenceFromCsv(file, servable, prep.policy, { target });
        await s.ctx.registry.register({ model, onnx, manifest: { reference }, ...(policy ? { policy: policy as never } : {}), actor: 't' });
      } finally {
        await servable.release();
      }
      await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
    }

    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false, env: { MONITOR_MIN_ROWS: '50', MONITOR_MIN_LABELS: '50' } });
      const geoCsv = path.join(dir, 'geo.csv');
      writeFileSync(geoCsv, csv(geo.expected.rows, 'Geography', ortClass));
      const chargesCsv = path.join(dir, 'charges.csv');
      // Reference truth: each value 2 away from the model's: a reference MAE of 2.
      writeFileSync(
        chargesCsv,
        csv(
          charges.expected.rows,
          'MonthlyCharges',
          charges.expected.onnxruntime.map((v, i) => v + (i % 2 ? 2 : -2)),
        ),
      );
      await register('geo', geo.onnx, geoCsv, 'Geography');
      await register('charges', charges.onnx, chargesCsv, 'MonthlyCharges', {
        type: 'bands',
        bands: [
          { decision: 'low', below: 30 },
          { decision: 'mid', below: 70 },
          { decision: 'high', below: null },
        ],
      });
      await s.pool.refresh(true);
    });
    afterAll(() => s?.stop());

    it('the reference keeps the class mix and the reference metrics of each kind', async () => {
      const g = (await s.ctx.registry.getVersion('geo', 1)).manifest.reference as { classes: { labels: string[]; counts: number[] }; metrics: Record<string, number> };
      expect(g.classes.labels).toEqual(geo.expected.classes);
      expect(g.classes.counts).toEqual(geo.expected.classes.map((c) => ortClass.filter((x) => x === c).length));
      expect(g.metrics.accuracy).toBe(1);
      const c = (await s.ctx.registry.getVersion('charges', 1)).manifest.reference as { metrics: Record<string, number> };
      expect(c.metrics.mae).toBeCloseTo(2, 4);
    });

    it('multiclass: class-mix drift, accuracy from class feedback, low_accuracy and retrain flags', async () => {
      // Live traffic: only the rows the model calls Germany (the mix moves), 100 of them.
      const germany = geo.expected.rows.filter((_r, i) => ortClass[i] === 'Germany');
      const rows = Array.from({ length: 100 }, (_, i) => germany[i % germany.length]);
      const r = await post('/v1/models/geo/predict', { instances: rows });
      expect(r.status).toBe(200);
      const ids = r.body.predictions.map((p: { prediction_id: string }) => p.prediction_id);
      await s.audit.flush();
      // Feedback: 70 right, 30 said to be France: accuracy 0.70, 30 points below the reference's 1.0.
      const fb = await post('/v1/feedback', { items: ids.map((id: string, i: number) => ({ prediction_id: id, label: i < 70 ? 'Germany' : 'France' })) });
      expect(fb.body).toMatchObject({ stored: 100, failed: 0 });
      const report: Report = (await s.ctx.monitoring.run('geo', 3_600_000)).report;
      expect(report.task).toBe('multiclass');
      expect(report.prediction_drift.basis).toBe('class_mix');
      const refCounts = geo.expected.classes.map((c) => ortClass.filter((x) => x === c).length);
      const winCounts = geo.expected.classes.map((c) => (c === 'Germany' ? 100 : 0));
      expect(report.prediction_drift.psi).toBeCloseTo(psiOfCounts(refCounts, winCounts), 10);
      expect(report.prediction_drift.class_mix!.find((c) => c.class === 'Germany')).toEqual({ class: 'Germany', reference: refCounts[2] / 200, window: 1 });
      expect(report.performance).toMatchObject({ labelled: 100, accuracy: 0.7, roc_auc: null, mae: null });
      const alert = (name: string) => report.alerts.find((a) => a.name === name);
      expect(alert('low_accuracy')).toMatchObject({ firing: true, threshold: 5 });
      expect(alert('low_accuracy')!.value).toBeCloseTo(30, 10);
      expect(alert('low_auc')).toBeUndefined();
      expect(alert('retrain_recommended')).toMatchObject({ firing: true, detail: expect.stringMatching(/accuracy 0\.7000 against 1\.0000 in training \(30\.0% below\)/) });
      // Its label policy acts on nothing: no action rate (not 0, which reads as a model that never acts).
      expect(report.action_rate).toEqual({ decisions: [], window: null, trailing_7d: null, reference: null });
      expect(report.notes).toContain("version 1's policy (label) has no decision that counts as acting: no action rate");
      expect(alert('action_rate_anomaly')).toMatchObject({ firing: false, value: null, detail: 'no action rate: the policy has no decision that counts as acting' });
    });

    it('regression: value drift, MAE from value feedback, mae_rising flag, and the gauges', async () => {
      const rows = charges.expected.rows.slice(0, 100);
      const r = await post('/v1/models/charges/predict', { instances: rows });
      const ids = r.body.predictions.map((p: { prediction_id: string }) => p.prediction_id);
      await s.audit.flush();
      // Real values 3 away from the served ones: MAE 3 against the reference's 2, a 50 % rise.
      await post('/v1/feedback', { items: ids.map((id: string, i: number) => ({ prediction_id: id, label: charges.expected.onnxruntime[i] + 3 })) });
      const report: Report = (await s.ctx.monitoring.run('charges', 3_600_000)).report;
      expect(report.task).toBe('regression');
      expect(report.prediction_drift.basis).toBe('value');
      expect(report.prediction_drift.psi).not.toBeNull();
      expect(report.performance.mae).toBeCloseTo(3, 4);
      expect(report.performance.labelled).toBe(100);
      const rising = report.alerts.find((a) => a.name === 'mae_rising')!;
      expect(rising.firing).toBe(true);
      expect(rising.value).toBeCloseTo(0.5, 3);
      expect(report.alerts.find((a) => a.name === 'retrain_recommended')).toMatchObject({ firing: true, detail: expect.stringMatching(/mae 3\.0000 against 2\.0000 in training \(50\.0% above\)/) });
      // The same report shown as gauges.
      await s.monitorJob.tick();
      const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      const gauge = (re: RegExp) => Number(re.exec(text)?.[1]);
      expect(gauge(/modelgate_model_mae\{model="charges",version="1"\} (\S+)/)).toBeCloseTo(3, 4);
      expect(gauge(/modelgate_model_accuracy\{model="geo",version="1"\} (\S+)/)).toBe(0.7);
      expect(text).toMatch(/modelgate_monitor_alert\{model="charges",alert="mae_rising"\} 1/);
      // The multiclass model's label policy acts on nothing: no gauge of an action rate; the bands of this one act.
      expect(text).not.toMatch(/modelgate_action_rate(_7d_avg)?\{model="geo"\}/);
      expect(gauge(/modelgate_action_rate\{model="charges"\} (\S+)/)).toBe(report.action_rate.window);
    });
  });
}
