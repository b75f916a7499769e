import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Models exported by scikit-learn's converter must serve, over HTTP, exactly the
 * probabilities scikit-learn's own predict_proba gave (recorded beside the fixtures), on the
 * compiled engine (the default) and on onnxruntime.
 */
describe.each(['auto', 'onnxruntime'] as const)('scikit-learn fixtures served over HTTP (INFERENCE_ENGINE=%s)', (engine) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ listen: true, env: { INFERENCE_ENGINE: engine } });
    const churn = fixture('telco_churn');
    await s.ctx.registry.register({ model: 'telco-churn', onnx: churn.onnx, actor: 'test' });
    await s.ctx.registry.promote({ model: 'telco-churn', target: 'production', version: 1, actor: 'test' });
    const numeric = fixture('telco_numeric');
    await s.ctx.registry.register({ model: 'telco-numeric', onnx: numeric.onnx, featureNames: numeric.expected.feature_names, actor: 'test' });
    await s.ctx.registry.promote({ model: 'telco-numeric', target: 'production', version: 1, actor: 'test' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { ...s.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  for (const [model, name] of [
    ['telco-churn', 'telco_churn'],
    ['telco-numeric', 'telco_numeric'],
  ] as const) {
    it(`${name}: every row through /v1/infer within 1e-5 of scikit-learn`, async () => {
      const { expected } = fixture(name);
      expect(expected.rows.length).toBe(200);
      const replies = await Promise.all(expected.rows.map((payload, i) => post('/v1/infer', { model, payload, event_id: `row-${i}` })));
      let worst = 0;
      replies.forEach((r, i) => {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.event_id).toBe(`row-${i}`);
        worst = Math.max(worst, Math.abs((r.body.score as number) - expected.proba[i]));
      });
      expect(worst).toBeLessThan(1e-5);
    });

    it(`${name}: the batch route gives the same probabilities`, async () => {
      const { expected } = fixture(name);
      const r = await post(`/v1/models/${model}/predict`, { instances: expected.rows });
      expect(r.status).toBe(200);
      const preds = r.body.predictions as { score: number; decision: string }[];
      expect(preds).toHaveLength(200);
      preds.forEach((p, i) => {
        expect(Math.abs(p.score - expected.proba[i])).toBeLessThan(1e-5);
        expect(p.decision).toBe(expected.proba[i] >= 0.5 ? 'act' : 'none');
      });
    });
  }

  it(
    engine === 'auto'
      ? 'both graphs serve on the compiled engine (so the parity above is the compiled code)'
      : 'the 19-input pipeline is served through its input-packed rewrite (so the parity above is the packed graph)',
    async () => {
      const churn = await s.pool.get('telco-churn', 1);
      const numeric = await s.pool.get('telco-numeric', 1);
      if (engine === 'auto') {
        expect([churn.engineName, numeric.engineName]).toEqual(['compiled', 'compiled']);
        return;
      }
      expect(churn.engineName).toBe('onnxruntime');
      expect(churn.packed).toBe(true);
      // A single [N,4] matrix input has nothing to pack.
      expect(numeric.packed).toBe(false);
    },
  );

  it('the registered contract comes from the graph: 19 columns with types and categories', async () => {
    const v = await s.ctx.registry.getVersion('telco-churn', 1);
    expect(v.contract.layout).toBe('columns');
    expect(v.contract.features).toHaveLength(19);
    const contract = v.manifest.contract.features.find((f) => f.name === 'Contract');
    expect(contract).toMatchObject({ type: 'string', categories: ['Month-to-month', 'One year', 'Two year'] });
    expect(v.manifest.contract.features.find((f) => f.name === 'tenure')?.type).toBe('float');
    expect(v.manifest.output).toMatchObject({ source: 'zipmap', zipmap_output: 'output_probability', positive_index: 1 });
  });

  it('missing numeric values and unseen categories are served, as scikit-learn would', async () => {
    const { expected } = fixture('telco_churn');
    const withNull = expected.rows.findIndex((r) => r.TotalCharges === null);
    expect(withNull).toBeGreaterThanOrEqual(0);
    const { TotalCharges: _omit, ...missing } = expected.rows[withNull];
    const omitted = await post('/v1/infer', { model: 'telco-churn', payload: missing });
    expect(Math.abs((omitted.body.score as number) - expected.proba[withNull])).toBeLessThan(1e-5);
    const unseen = await post('/v1/infer', { model: 'telco-churn', payload: { ...expected.rows[0], PaymentMethod: 'Carrier pigeon', extra_field: 1 } });
    expect(unseen.status).toBe(200);
    expect(unseen.body.score).not.toBe(expected.proba[0]);
    // scikit-learn's OneHotEncoder keeps its categories sorted.
    expect(unseen.body.warnings).toEqual([
      'payload.extra_field: unknown field, ignored',
      'payload.PaymentMethod: "Carrier pigeon" is not a category this model version knows; scored as an unseen one (it knows "Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check")',
    ]);
  });
});

/**
 * LightGBM exports (onnxmltools, one [N,F] input, NaN = missing): served over HTTP, on either
 * engine, as LightGBM's own predict_proba / predict computed them.
 */
describe.each(['auto', 'onnxruntime'] as const)('LightGBM exports served over HTTP (INFERENCE_ENGINE=%s)', (engine) => {
  let s: TestServer;
  const load = (name: string) => ({
    onnx: readFileSync(path.join(FIXTURES, `${name}.onnx`)),
    expected: JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as {
      feature_names: string[];
      rows: Record<string, number | null>[];
      proba?: number[];
      value?: number[];
      classes?: string[];
      proba_by_class?: number[][];
      label?: string[];
    },
  });
  const models = { 'telco-lgbm': 'telco_lgbm', 'bank-lgbm': 'bank_lgbm_geography', 'charges-lgbm': 'telco_lgbm_charges' } as const;
  beforeAll(async () => {
    s = await startTestServer({ listen: true, env: { INFERENCE_ENGINE: engine } });
    for (const [model, name] of Object.entries(models)) {
      const { onnx, expected } = load(name);
      await s.ctx.registry.register({ model, onnx, featureNames: expected.feature_names, actor: 'test' });
      await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 'test' });
    }
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());

  const predict = async (model: string, instances: unknown[]) => {
    const res = await fetch(`${s.url}/v1/models/${model}/predict`, { method: 'POST', headers: { ...s.auth, 'content-type': 'application/json' }, body: JSON.stringify({ instances }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { predictions: { score: number; value?: number; label?: string; probabilities?: Record<string, number> }[] }).predictions;
  };

  it(`on the ${engine === 'auto' ? 'compiled engine' : 'onnxruntime engine'}`, async () => {
    for (const model of Object.keys(models)) expect((await s.pool.get(model, 1)).engineName).toBe(engine === 'auto' ? 'compiled' : 'onnxruntime');
  });

  it('binary: every row within 1e-6 of LightGBM, rows with a missing value among them', async () => {
    const { expected } = load('telco_lgbm');
    expect(expected.rows.some((r) => Object.values(r).includes(null))).toBe(true);
    const preds = await predict('telco-lgbm', expected.rows);
    preds.forEach((p, i) => expect(Math.abs(p.score - expected.proba![i]), `row ${i}`).toBeLessThan(1e-6));
  });

  it('multiclass: every class probability within 1e-6 of LightGBM, the same labels', async () => {
    const { expected } = load('bank_lgbm_geography');
    const preds = await predict('bank-lgbm', expected.rows);
    preds.forEach((p, i) => {
      expected.classes!.forEach((c, k) => expect(Math.abs(p.probabilities![c] - expected.proba_by_class![i][k]), `row ${i} ${c}`).toBeLessThan(1e-6));
      expect(p.label).toBe(expected.label![i]);
    });
  });

  it('regression: every value within float32 rounding of LightGBM (relative 1e-5)', async () => {
    const { expected } = load('telco_lgbm_charges');
    const preds = await predict('charges-lgbm', expected.rows);
    // LightGBM sums its 150 trees in float64, the ONNX graph in float32 as onnxruntime does (up to
    // 1.1e-6 apart here). 1e-5 of these values (19–115) is at most 0.0012, and every one of the
    // 150 trees has a leaf of 0.07 or more, so a tree left out or misread shows.
    preds.forEach((p, i) => expect(Math.abs(p.value! - expected.value![i]) / Math.abs(expected.value![i]), `row ${i}`).toBeLessThan(1e-5));
  });
});
