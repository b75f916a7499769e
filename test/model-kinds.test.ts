import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryStore } from '../src/registry/index.js';
import { model as onnxModel, node, valueInfo } from '../src/training/onnx-builder.js';
import { DIALECTS } from './helpers/db.js';
import { kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Multiclass and regression models end to end: the task read from the graph, the response per
 * kind, policies per kind, the audit record and feedback of the right kind. Expected values are
 * scikit-learn's and onnxruntime's own (recorded beside the fixtures when they were exported).
 */
const geo = kindFixture('bank_geography');
const charges = kindFixture('telco_charges');

/** Two float outputs, neither named like probabilities, and no classifier: nothing says which is the prediction. */
const twoValues = onnxModel({
  name: 'two',
  nodes: [node('Identity', ['x'], ['a']), node('Identity', ['x'], ['b'])],
  inputs: [valueInfo('x', 'float', ['N', 1])],
  outputs: [valueInfo('a', 'float', ['N', 1]), valueInfo('b', 'float', ['N', 1])],
  initializers: [],
});
/** Only string outputs: nothing reads as a score, value or probabilities. */
const noScore = onnxModel({
  name: 'strings',
  nodes: [node('Identity', ['s'], ['s1']), node('Identity', ['s'], ['s2'])],
  inputs: [valueInfo('s', 'string', ['N', 1])],
  outputs: [valueInfo('s1', 'string', ['N', 1]), valueInfo('s2', 'string', ['N', 1])],
  initializers: [],
});

for (const dialect of DIALECTS) {
  describe(`model kinds on ${dialect}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
      await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, actor: 't' });
      await s.ctx.registry.register({ model: 'charges', onnx: charges.onnx, actor: 't' });
      for (const model of ['geo', 'charges']) await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
    });
    afterAll(() => s?.stop());

    const post = async (url: string, body: unknown) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };
    const get = async (url: string) => {
      const res = await s.app.inject({ method: 'GET', url, headers: s.auth });
      return { status: res.statusCode, body: res.json() };
    };

    it('the task comes from the graph: a ZipMap of four classes is multiclass, one float value output is regression', async () => {
      const g = await get('/v1/models/geo/versions/1');
      expect(g.body).toMatchObject({ task: 'multiclass', classes: ['?', 'France', 'Germany', 'Spain'], policy: { type: 'label' } });
      expect(g.body.manifest.contract.task).toBe('multiclass');
      const c = await get('/v1/models/charges/versions/production');
      expect(c.body).toMatchObject({ task: 'regression', policy: { type: 'value', decision: 'value' } });
      expect(c.body.classes).toBeUndefined();
      const list = await get('/v1/models');
      expect(Object.fromEntries((list.body.models as { name: string; task: string }[]).map((m) => [m.name, m.task]))).toEqual({ geo: 'multiclass', charges: 'regression' });
    });

    it('multiclass: label, probabilities per class and score = probability of the label, within 1e-5 of onnxruntime and scikit-learn', async () => {
      let worstOrt = 0;
      let worstPy = 0;
      const replies = await Promise.all(geo.expected.rows.map((payload) => post('/v1/infer', { model: 'geo', payload })));
      replies.forEach((r, i) => {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const probs = r.body.probabilities as Record<string, number>;
        expect(Object.keys(probs)).toEqual(geo.expected.classes);
        geo.expected.classes.forEach((c, j) => {
          worstOrt = Math.max(worstOrt, Math.abs(probs[c] - geo.expected.onnxruntime[i][j]));
          worstPy = Math.max(worstPy, Math.abs(probs[c] - geo.expected.proba_by_class[i][j]));
        });
        const py = geo.expected.proba_by_class[i];
        const sorted = [...py].sort((a, b) => b - a);
        // scikit-learn's predict is the argmax; where two classes are closer than float32 can tell, either is right.
        if (sorted[0] - sorted[1] > 1e-5) expect(r.body.label).toBe(geo.expected.label[i]);
        expect(r.body.score).toBe(probs[r.body.label as string]);
        expect(r.body.score).toBe(Math.max(...Object.values(probs)));
        expect(r.body.decision).toBe(r.body.label);
        expect(r.body.value).toBeUndefined();
      });
      expect(worstOrt).toBeLessThan(1e-6);
      expect(worstPy).toBeLessThan(1e-5);
    });

    it('regression: value (and score = value for older clients) within 1e-5 of onnxruntime, and within float32 of scikit-learn', async () => {
      let worstOrt = 0;
      let worstPy = 0;
      const replies = await Promise.all(charges.expected.rows.map((payload) => post('/v1/infer', { model: 'charges', payload })));
      replies.forEach((r, i) => {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.score).toBe(r.body.value);
        expect(r.body.decision).toBe('value');
        expect(r.body.label).toBeUndefined();
        worstOrt = Math.max(worstOrt, Math.abs(r.body.value - charges.expected.onnxruntime[i]));
        worstPy = Math.max(worstPy, Math.abs(r.body.value - charges.expected.value[i]));
      });
      expect(worstOrt).toBeLessThan(1e-5);
      // Monthly charges of 18 to 119 in float32: about 7.6e-6 apart; the converter's sums add a few of those.
      expect(worstPy).toBeLessThan(2e-5);
    });

    it('the batch route answers the same per kind', async () => {
      const g = await post('/v1/models/geo/predict', { instances: geo.expected.rows.slice(0, 20) });
      expect(g.status).toBe(200);
      g.body.predictions.forEach((p: { label: string; probabilities: Record<string, number>; score: number }, i: number) => {
        expect(Math.abs(p.probabilities.Germany - geo.expected.onnxruntime[i][2])).toBeLessThan(1e-6);
        expect(p.score).toBe(p.probabilities[p.label]);
      });
      const c = await post('/v1/models/charges/predict', { instances: charges.expected.rows.slice(0, 20) });
      expect(c.status).toBe(200);
      c.body.predictions.forEach((p: { value: number; score: number }, i: number) => {
        expect(Math.abs(p.value - charges.expected.onnxruntime[i])).toBeLessThan(1e-5);
        expect(p.score).toBe(p.value);
      });
    });

    it('policies per kind: bands on a value, a minimum probability with a fallback, a class map; promoted like any version', async () => {
      const bands = await s.ctx.registry.withPolicy({
        model: 'charges',
        from: 1,
        policy: {
          type: 'bands',
          bands: [
            { decision: 'low', below: 30 },
            { decision: 'mid', below: 70 },
            { decision: 'high', below: null },
          ],
        },
        actor: 't',
      });
      const minP = await s.ctx.registry.withPolicy({ model: 'geo', from: 1, policy: { type: 'min_probability', min: 0.6, per_class: { Germany: 0.5 }, fallback: 'review' }, actor: 't' });
      expect(bands.manifest.contract.task).toBe('regression');
      expect(minP.manifest.output.class_labels).toEqual(['?', 'France', 'Germany', 'Spain']);
      await s.ctx.registry.promote({ model: 'charges', target: 'production', version: bands.version, actor: 't' });
      await s.ctx.registry.promote({ model: 'geo', target: 'production', version: minP.version, actor: 't' });
      await s.pool.refresh(true);
      const c = await post('/v1/models/charges/predict', { instances: charges.expected.rows });
      const expectBand = (v: number) => (v < 30 ? 'low' : v < 70 ? 'mid' : 'high');
      c.body.predictions.forEach((p: { decision: string }, i: number) => expect(p.decision).toBe(expectBand(charges.expected.onnxruntime[i])));
      expect(new Set(c.body.predictions.map((p: { decision: string }) => p.decision))).toEqual(new Set(['low', 'mid', 'high']));
      const g = await post('/v1/models/geo/predict', { instances: geo.expected.rows });
      const expected = geo.expected.onnxruntime.map((probs) => {
        const j = probs.indexOf(Math.max(...probs));
        const cls = geo.expected.classes[j];
        return probs[j] >= (cls === 'Germany' ? 0.5 : 0.6) ? cls : 'review';
      });
      expect(g.body.predictions.map((p: { decision: string }) => p.decision)).toEqual(expected);
      expect(expected).toContain('review');
      expect(expected).toContain('France');
      // Rolled back like any version.
      await s.ctx.registry.rollback({ model: 'geo', actor: 't' });
      await s.pool.refresh(true);
      expect((await post('/v1/infer', { model: 'geo', payload: geo.expected.rows[0] })).body).toMatchObject({ version: 1, decision: 'France' });
    });

    it('a policy of the wrong kind, or naming a class the model lacks, is refused and nothing is created', async () => {
      const before = (await get('/v1/models/geo')).body.versions.length;
      await expect(s.ctx.registry.withPolicy({ model: 'geo', from: 1, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' })).rejects.toThrow(
        /multiclass model takes a label, min_probability, class_map policy/,
      );
      await expect(s.ctx.registry.withPolicy({ model: 'geo', from: 1, policy: { type: 'class_map', decisions: { Italy: 'act' }, default: 'none' }, actor: 't' })).rejects.toThrow(
        /unknown class "Italy"/,
      );
      await expect(s.ctx.registry.withPolicy({ model: 'charges', from: 1, policy: { type: 'label' }, actor: 't' })).rejects.toThrow(/regression model takes/);
      expect((await get('/v1/models/geo')).body.versions.length).toBe(before);
    });

    it('--task overrides where the graph allows it; graphs whose outputs read as nothing are refused', async () => {
      const bin = await s.ctx.registry.register({ model: 'geo-germany', onnx: geo.onnx, manifest: { task: 'binary', positive_class: 2 }, actor: 't' });
      expect(bin.manifest.contract.task).toBe('binary');
      expect(bin.manifest.output.positive_index).toBe(2);
      await expect(s.ctx.registry.register({ model: 'geo-bad', onnx: geo.onnx, task: 'regression', actor: 't' })).rejects.toThrow(/ZipMap of class probabilities, not a value/);
      await expect(s.ctx.registry.register({ model: 'geo-bad', onnx: geo.onnx, manifest: { task: 'binary' }, actor: 't' })).rejects.toThrow(/4 class probabilities; serve it as multiclass/);
      await expect(s.ctx.registry.register({ model: 'two', onnx: twoValues, actor: 't' })).rejects.toThrow(/outputs a, b could each be the prediction; name the one to read/);
      await expect(s.ctx.registry.register({ model: 'strings', onnx: noScore, actor: 't' })).rejects.toThrow(
        /no output reads as a score, value or probabilities: outputs are s1 \(tensor string \[N,1\]\), s2/,
      );
      const named = await s.ctx.registry.register({ model: 'two', onnx: twoValues, manifest: { output: 'b' }, actor: 't' });
      expect(named.manifest).toMatchObject({ contract: { task: 'regression' }, output: { name: 'b' } });
      const models = (await get('/v1/models')).body.models.map((m: { name: string }) => m.name);
      expect(models).not.toContain('geo-bad');
      expect(models).not.toContain('strings');
    });

    it('a version of another task is refused (409): it would change the answers clients get, and a canary could not compare it', async () => {
      const before = (await get('/v1/models/geo')).body.versions.length;
      const refused = s.ctx.registry.register({ model: 'geo', onnx: charges.onnx, actor: 't' });
      await expect(refused).rejects.toMatchObject({ code: 'CONFLICT', status: 409 });
      await expect(refused).rejects.toThrow(
        /^model geo is a multiclass model \(version \d+\), and the new version would be regression: a version of another task would change what its clients receive.*--model geo-regression$/,
      );
      // Read as another task of the same graph (one class as a binary score): refused too.
      await expect(s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, manifest: { task: 'binary', positive_class: 'Spain' }, actor: 't' })).rejects.toThrow(
        /is a multiclass model .* the new version would be binary/,
      );
      expect((await get('/v1/models/geo')).body.versions.length).toBe(before);
      // The same task registers as the next version.
      expect((await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, actor: 't' })).version).toBe(before + 1);
    });

    it('a canary or shadow of another task than production (versions an earlier release stored) is refused (409)', async () => {
      // What an earlier release let register: a regression version of the multiclass model.
      const store = createRegistryStore(s.ctx.db);
      const charges1 = await store.getVersion('charges', 1);
      const version = (await store.latestVersion('geo'))!.version + 1;
      await store.transaction((tx) => store.insertVersion(tx, { ...charges1!, model: 'geo', version, manifest: { ...charges1!.manifest, model: 'geo', version }, created_by: 'older release' }));
      await expect(s.ctx.rollouts.startCanary({ model: 'geo', canary_version: version, canary_percent: 10, actor: 't' })).rejects.toThrow(
        new RegExp(`^geo version ${version} is regression and production \\(version 1\\) is multiclass: a canary of another task would change what its share of clients receives`),
      );
      await expect(s.ctx.rollouts.setShadow('geo', version, 50, 't')).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/a shadow of another task would have nothing to be compared with/),
      });
      expect((await get('/v1/canary/geo')).body).toMatchObject({ canary_version: null });
    });

    it('the audit log keeps the predicted class; feedback takes a class or a value and refuses the wrong kind', async () => {
      const g = await post('/v1/infer', { model: 'geo', payload: geo.expected.rows[1], event_id: `geo-${dialect}` });
      const c = await post('/v1/infer', { model: 'charges', payload: charges.expected.rows[0], event_id: `charges-${dialect}` });
      expect(g.status).toBe(200);
      const okClass = await post('/v1/feedback', { prediction_id: g.body.prediction_id, label: 'Spain' });
      expect(okClass.status).toBe(200);
      const okValue = await post('/v1/feedback', { event_id: `charges-${dialect}`, label: 21.35 });
      expect(okValue.status).toBe(200);
      expect(await s.ctx.feedback.get(g.body.prediction_id)).toMatchObject({ label: null, actual_class: 'Spain', actual_value: null });
      expect(await s.ctx.feedback.get(c.body.prediction_id)).toMatchObject({ label: null, actual_class: null, actual_value: 21.35 });
      const wrongClass = await post('/v1/feedback', { prediction_id: g.body.prediction_id, label: 'Italy' });
      expect(wrongClass.status).toBe(400);
      expect(wrongClass.body.error.message).toMatch(/multiclass model; expected one of its classes "\?", "France", "Germany", "Spain", got "Italy"/);
      const wrongKind = await post('/v1/feedback', { prediction_id: c.body.prediction_id, label: 'high' });
      expect(wrongKind.status).toBe(400);
      expect(wrongKind.body.error.message).toMatch(/regression model; expected the real value as a finite number, got "high"/);
      // 1e400 parses to Infinity, which JSON.stringify would have named null.
      const huge = await s.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: `{"prediction_id":"${c.body.prediction_id}","label":1e400}`,
      });
      expect(huge.statusCode).toBe(400);
      expect(huge.json().error.message).toMatch(/finite number, got Infinity \(a number out of range\)$/);
      const batch = await post('/v1/feedback', {
        items: [
          { prediction_id: g.body.prediction_id, label: 1 },
          { prediction_id: c.body.prediction_id, label: 19.9 },
        ],
      });
      expect(batch.body).toMatchObject({ stored: 1, failed: 1, results: [{ status: 'error' }, { status: 'stored' }] });
      const audit = await get(`/v1/predictions?model=geo&limit=500`);
      const row = audit.body.predictions.find((p: { id: string }) => p.id === g.body.prediction_id);
      expect(row).toMatchObject({ label: g.body.label, score: g.body.score, decision: g.body.decision });
    });
  });
}
