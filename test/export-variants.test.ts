import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryStore } from '../src/registry/index.js';
import { onnx } from '../src/lib/onnx-proto.js';
import { model as onnxModel, node, valueInfo } from '../src/training/onnx-builder.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { aucByPairs } from './helpers/independent.js';
import { FIXTURES } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * scikit-learn exports other than the default ZipMap (scripts/export-variant-fixtures.py): what
 * scikit-learn's own predict_proba gave is the expected score, so a server that reads the wrong
 * output or serves a margin as a probability fails here.
 */
interface Variant {
  rows: Record<string, number | string | null>[];
  classes: string[];
  outputs: string[];
  proba?: number[][];
  decision?: number[];
  feature_names?: string[];
  truth?: string[];
}
const variant = (name: string) => ({
  onnx: readFileSync(path.join(FIXTURES, `${name}.onnx`)),
  expected: JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as Variant,
});
const columns = variant('telco_columns');
const bankColumns = variant('bank_columns');
const linearSvc = variant('telco_linearsvc');
const svc = variant('telco_svc');
const intMatrix = variant('bank_int_matrix');
const strict = variant('telco_strict');
const words = variant('telco_words');

/** A two-class classifier whose probabilities leave by two float outputs with these names and columns. */
const classifierWithOutputs = (names: [string, string], columns: number) =>
  onnxModel({
    name: names.join('-'),
    nodes: [
      node('LinearClassifier', ['x'], ['label', 'p'], { coefficients: { floats: [1, -1] }, intercepts: { floats: [0, 0] }, classlabels_ints: [0, 1], post_transform: 'LOGISTIC' }, 'ai.onnx.ml'),
      ...names.map((n) => node('Identity', ['p'], [n])),
    ],
    inputs: [valueInfo('x', 'float', ['N', 1])],
    outputs: names.map((n) => valueInfo(n, 'float', ['N', columns])),
    initializers: [],
  });
/** Two float outputs that are not one per class: which is the score is anyone's guess. */
const classifierTwoOutputs = classifierWithOutputs(['a', 'b'], 2);
/** One column each, as many as the classes, but named otherwise than the per-class export names them. */
const classifierTwoColumns = classifierWithOutputs(['score', 'margin'], 1);

for (const dialect of DIALECTS) {
  describe(`scikit-learn export variants on ${dialect}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
    });
    afterAll(() => s?.stop());

    const infer = async (model: string, payload: unknown) => {
      const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ model, payload }) });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const models = async () => (await s.app.inject({ method: 'GET', url: '/v1/models', headers: s.auth })).json().models.map((m: { name: string }) => m.name);

    it('zipmap="columns", two classes: the score is the positive class output, as predict_proba gives it', async () => {
      expect(columns.expected.outputs).toEqual(['output_label', 'i0', 'i1']);
      const v = await s.ctx.registry.register({ model: 'columns', onnx: columns.onnx, missingCategory: 'missing', actor: 't' });
      expect(v.manifest).toMatchObject({ contract: { task: 'binary' }, output: { name: 'i1', positive_index: 0, class_labels: [1] } });
      await s.ctx.registry.promote({ model: 'columns', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      let worst = 0;
      for (const [i, row] of columns.expected.rows.entries()) {
        const r = await infer('columns', row);
        worst = Math.max(worst, Math.abs(r.score - columns.expected.proba![i][1]));
        expect(r.decision).toBe(columns.expected.proba![i][1] >= 0.5 ? 'act' : 'none');
      }
      expect(worst).toBeLessThan(1e-5);
      // positive_class picks the other output.
      const other = await s.ctx.registry.register({ model: 'columns-stay', onnx: columns.onnx, manifest: { positive_class: 0, missing_category: 'missing' }, actor: 't' });
      expect(other.manifest.output).toMatchObject({ name: 'i0', positive_index: 0, class_labels: [0] });
    });

    it('positive_class by label or column, and "output" naming one class: that class is the score', async () => {
      const byLabel = await s.ctx.registry.register({ model: 'columns-label', onnx: columns.onnx, manifest: { positive_class: '0' }, missingCategory: 'missing', actor: 't' });
      expect(byLabel.manifest.output).toMatchObject({ name: 'i0', class_labels: [0] });
      await expect(s.ctx.registry.register({ model: 'columns-bad', onnx: columns.onnx, positiveClass: '2', missingCategory: 'missing', actor: 't' })).rejects.toThrow(
        /positive_class "2" is not a class of this output; its classes are 0, 1/,
      );
      const named = await s.ctx.registry.register({ model: 'columns-named', onnx: columns.onnx, manifest: { output: 'i0' }, missingCategory: 'missing', actor: 't' });
      expect(named.manifest).toMatchObject({ contract: { task: 'binary' }, output: { name: 'i0', positive_index: 0, class_labels: [0] } });
      await expect(s.ctx.registry.register({ model: 'columns-bad', onnx: columns.onnx, manifest: { output: 'i0', positive_class: '1' }, missingCategory: 'missing', actor: 't' })).rejects.toThrow(
        /output i0 holds the probability of class 0, not of positive_class "1"/,
      );
      // One class of a four-class export, by its output: P(Germany) as scikit-learn gives it.
      const germany = await s.ctx.registry.register({ model: 'germany', onnx: bankColumns.onnx, manifest: { output: 'sGermany' }, missingCategory: 'missing', actor: 't' });
      expect(germany.manifest.output).toMatchObject({ name: 'sGermany', class_labels: ['Germany'] });
      await s.ctx.registry.promote({ model: 'germany', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const g = bankColumns.expected.classes.indexOf('Germany');
      for (const [i, row] of bankColumns.expected.rows.slice(0, 20).entries()) expect(Math.abs((await infer('germany', row)).score - bankColumns.expected.proba![i][g])).toBeLessThan(1e-5);
      expect(await models()).not.toContain('columns-bad');
    });

    it('zipmap="columns" with more classes, or asked for as multiclass, is refused with how to export it', async () => {
      expect(bankColumns.expected.outputs).toEqual(['output_label', 's?', 'sFrance', 'sGermany', 'sSpain']);
      await expect(s.ctx.registry.register({ model: 'bank-columns', onnx: bankColumns.onnx, actor: 't' })).rejects.toThrow(
        /outputs s\?, sFrance, sGermany, sSpain each hold one class's probability \(scikit-learn's zipmap="columns" export\).*options=\{"zipmap": False\}/,
      );
      await expect(s.ctx.registry.register({ model: 'bank-columns', onnx: columns.onnx, task: 'multiclass', actor: 't' })).rejects.toThrow(/outputs i0, i1 each hold one class's probability/);
      expect(await models()).not.toContain('bank-columns');
    });

    it('a classifier with two float outputs that are not one per class is refused, not read from the first', async () => {
      await expect(s.ctx.registry.register({ model: 'two-outputs', onnx: classifierTwoOutputs, actor: 't' })).rejects.toThrow(/outputs a, b could each be the prediction/);
      // One column each, as many as the classes, but not named i0, i1 as the per-class export names them: not guessed at.
      await expect(s.ctx.registry.register({ model: 'two-outputs', onnx: classifierTwoColumns, actor: 't' })).rejects.toThrow(/outputs score, margin could each be the prediction/);
      const named = await s.ctx.registry.register({ model: 'two-outputs', onnx: classifierTwoOutputs, manifest: { output: 'b' }, actor: 't' });
      expect(named.manifest.output).toMatchObject({ name: 'b', positive_index: 1 });
    });

    it('one int64 [N,F] input (to_onnx(model, X[:1]) of an integer table): served over /v1/infer and OIP as predict_proba gives it', async () => {
      const names = intMatrix.expected.feature_names!;
      const v = await s.ctx.registry.register({ model: 'int-matrix', onnx: intMatrix.onnx, featureNames: names, actor: 't' });
      expect(v.manifest.contract).toMatchObject({ layout: 'matrix', features: names.map((name, index) => ({ name, type: 'int64', input: 'X', index })) });
      await s.ctx.registry.promote({ model: 'int-matrix', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const rows = intMatrix.expected.rows;
      for (const [i, row] of rows.entries()) expect(Math.abs((await infer('int-matrix', row)).score - intMatrix.expected.proba![i][1])).toBeLessThan(1e-5);
      const oip = async (datatype: string, data: number[]) =>
        s.app.inject({
          method: 'POST',
          url: '/v2/models/int-matrix/infer',
          headers: { ...s.auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ inputs: [{ name: 'X', datatype, shape: [rows.length, names.length], data }] }),
        });
      const meta = (await s.app.inject({ method: 'GET', url: '/v2/models/int-matrix', headers: s.auth })).json();
      expect(meta.inputs).toEqual([{ name: 'X', datatype: 'INT64', shape: [-1, names.length] }]);
      const res = await oip(
        'INT64',
        rows.flatMap((r) => names.map((n) => r[n] as number)),
      );
      expect(res.statusCode, res.body).toBe(200);
      const scores = res.json().outputs.find((o: { name: string }) => o.name === 'score').data as number[];
      scores.forEach((x, i) => expect(Math.abs(x - intMatrix.expected.proba![i][1])).toBeLessThan(1e-5));
      // A value that is not an integer is named, not just typed.
      const half = await oip('FP32', [619.5, ...rows.flatMap((r) => names.map((n) => r[n] as number)).slice(1)]);
      expect(half.statusCode).toBe(400);
      expect(half.json().error).toBe('row[0].CreditScore: expected an integer, got 619.5');
      const quoted = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'int-matrix', payload: { ...rows[0], CreditScore: '619' } } });
      expect(quoted.json().error.message).toBe('payload.CreditScore: expected an integer, got string: the string "619"; send it as a JSON number (619), without quotes');
    });

    it("a one-hot encoder that refuses unknown categories (drop='first'): such a value is a 400 naming the field and the categories, not a failed run", async () => {
      const v = await s.ctx.registry.register({ model: 'strict', onnx: strict.onnx, missingCategory: 'missing', actor: 't' });
      const gender = v.manifest.contract.features.find((f) => f.name === 'gender');
      expect(gender).toMatchObject({ categories: ['Female', 'Male'], categories_only: true });
      expect(v.manifest.contract.features.find((f) => f.name === 'tenure')?.categories_only).toBeUndefined();
      await s.ctx.registry.promote({ model: 'strict', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      for (const [i, row] of strict.expected.rows.slice(0, 10).entries()) expect(Math.abs((await infer('strict', row)).score - strict.expected.proba![i][1])).toBeLessThan(1e-5);
      const post = (url: string, body: unknown) => s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      const row = strict.expected.rows[0];
      const unknown = await post('/v1/infer', { model: 'strict', payload: { ...row, PaymentMethod: 'Bitcoin' } });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().error).toMatchObject({
        code: 'VALIDATION_FAILED',
        message:
          'payload.PaymentMethod: "Bitcoin" is not a category this model version knows (its one-hot encoder refuses others); send one of "Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check"',
        details: { field: 'payload.PaymentMethod' },
      });
      const missing = await post('/v1/infer', { model: 'strict', payload: { ...row, gender: null } });
      expect(missing.statusCode).toBe(400);
      expect(missing.json().error.message).toMatch(/^payload\.gender: missing, which this model version reads as "missing": not a category this model version knows/);
      const batch = await post('/v1/models/strict/predict', { instances: [row, { ...row, Contract: 'Monthly' }] });
      expect(batch.statusCode).toBe(400);
      expect(batch.json().error.details.field).toBe('instances[1].Contract');
    });

    it("a one-column selection (ArrayFeatureExtractor, index 0) before the one-hot encoder: its categories are the input's, for warnings and, when it refuses others, for a 400", async () => {
      const geo = variant('bank_geography');
      const post = (url: string, body: unknown) => s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      const open = await s.ctx.registry.register({ model: 'geo-afe', onnx: geo.onnx, actor: 't' });
      // The bank data's own dirt is among them: "?" and the imputer's "missing".
      expect(open.manifest.contract.features.find((f) => f.name === 'Gender')).toMatchObject({ categories: ['?', 'Female', 'Male', 'missing'] });
      // The same graph with the encoder refusing unknown categories (zeros = 0, as handle_unknown="error" writes it).
      const m = onnx().ModelProto.decode(geo.onnx);
      const encoder = m.graph!.node!.find((n) => n.opType === 'OneHotEncoder')!;
      expect(encoder.input).toEqual(['Gender01']);
      encoder.attribute = [...encoder.attribute!.filter((a) => a.name !== 'zeros'), onnx().AttributeProto.create({ name: 'zeros', type: 2, i: 0 })];
      const strictGeo = await s.ctx.registry.register({ model: 'geo-afe', onnx: onnx().ModelProto.encode(m).finish(), actor: 't' });
      expect(strictGeo.manifest.contract.features.find((f) => f.name === 'Gender')).toMatchObject({ categories_only: true });
      for (const version of [1, 2]) await s.ctx.registry.promote({ model: 'geo-afe', target: version === 1 ? 'production' : 'green', version, actor: 't' });
      await s.pool.refresh(true);
      const row = geo.expected.rows[0];
      const typo = await post('/v1/infer', { model: 'geo-afe', payload: { ...row, Gender: 'female' } });
      expect(typo.statusCode, typo.body).toBe(200);
      expect(typo.json().warnings).toEqual(['payload.Gender: "female" is not a category this model version knows; scored as an unseen one (did you mean "Female"? categories are matched exactly)']);
      const refused = await post('/v1/infer', { model: 'geo-afe', alias: 'green', payload: { ...row, Gender: 'Other' } });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json().error.message).toBe(
        'payload.Gender: "Other" is not a category this model version knows (its one-hot encoder refuses others); send one of "?", "Female", "Male", "missing"',
      );
    });

    it('a version stored before categories_only (as 0.1.0 stored it) learns it from its graph when it loads: an unknown category is a 400, not a failed run', async () => {
      const store = createRegistryStore(s.ctx.db);
      const v1 = (await store.getVersion('strict', 1))!;
      const features = v1.manifest.contract.features.map(({ categories_only: _, ...f }) => f);
      expect(features.some((f) => f.categories?.includes('Bank transfer (automatic)'))).toBe(true);
      const version = (await store.latestVersion('strict'))!.version + 1;
      const manifest = { ...v1.manifest, version, contract: { ...v1.manifest.contract, features } };
      await store.transaction((tx) => store.insertVersion(tx, { ...v1, version, manifest, created_by: 'older release' }));
      expect((await store.getVersion('strict', version))!.manifest.contract.features.some((f) => f.categories_only)).toBe(false);
      await s.ctx.registry.promote({ model: 'strict', target: 'production', version, actor: 't' });
      await s.pool.refresh(true);
      const post = (url: string, body: unknown) => s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      const row = strict.expected.rows[0];
      const served = await post('/v1/infer', { model: 'strict', payload: row });
      expect(served.json()).toMatchObject({ version });
      expect(Math.abs(served.json().score - strict.expected.proba![0][1])).toBeLessThan(1e-5);
      const unknown = await post('/v1/infer', { model: 'strict', payload: { ...row, PaymentMethod: 'Bitcoin' } });
      expect(unknown.statusCode, unknown.body).toBe(400);
      expect(unknown.json().error.message).toMatch(/^payload\.PaymentMethod: "Bitcoin" is not a category this model version knows/);
      // A batch with one such row names it, and the other versions' rows are not affected.
      const batch = await post('/v1/models/strict/predict', { instances: [row, { ...row, Contract: 'Monthly' }] });
      expect(batch.statusCode).toBe(400);
      expect(batch.json().error.details.field).toBe('instances[1].Contract');
    });

    it('a binary model whose classes are words: feedback takes its class labels (the positive one is 1) besides 0/1', async () => {
      const v = await s.ctx.registry.register({ model: 'words', onnx: words.onnx, positiveClass: 'left', missingCategory: 'missing', actor: 't' });
      expect(v.manifest.output).toMatchObject({ positive_index: 0, class_labels: ['left', 'stayed'] });
      const shown = (await s.app.inject({ method: 'GET', url: '/v1/models/words/versions/1', headers: s.auth })).json();
      expect(shown).toMatchObject({ task: 'binary', positive_class: 'left' });
      await s.ctx.registry.promote({ model: 'words', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const post = (url: string, body: unknown) => s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      for (const [i, row] of words.expected.rows.slice(0, 4).entries()) {
        const r = await post('/v1/infer', { model: 'words', payload: row, event_id: `words-${dialect}-${i}` });
        expect(Math.abs(r.json().score - words.expected.proba![i][0])).toBeLessThan(1e-5);
      }
      const items = ['left', 'stayed', 1, 'gone'].map((label, i) => ({ event_id: `words-${dialect}-${i}`, label }));
      const fb = (await post('/v1/feedback', { items })).json();
      expect(fb).toMatchObject({ stored: 3, failed: 1 });
      expect(fb.results[3].error.message).toBe('items[3].label: words version 1 is a binary model; expected 0, 1, true, false, yes or no, or its classes "left", "stayed" ("left" is 1), got "gone"');
      const stored = await Promise.all(fb.results.slice(0, 3).map((r: { prediction_id: string }) => s.ctx.feedback.get(r.prediction_id)));
      expect(stored.map((f) => f?.label)).toEqual([1, 0, 1]);
    });

    it('decision-function outputs (LinearSVC, SVC without probabilities) are refused as scores; --task regression serves the raw value', async () => {
      // The fixtures' own decision values leave [0, 1]: what the check must see.
      expect(Math.min(...linearSvc.expected.decision!)).toBeLessThan(0);
      expect(Math.max(...svc.expected.decision!)).toBeGreaterThan(1);
      const refused =
        /output probabilities does not hold probabilities: it gave -?[\d.e-]+ for row \[.*\], and a binary model's scores are class probabilities between 0 and 1.*CalibratedClassifierCV\)/;
      await expect(s.ctx.registry.register({ model: 'linearsvc', onnx: linearSvc.onnx, missingCategory: 'missing', actor: 't' })).rejects.toThrow(
        new RegExp(`${refused.source}, or serve the raw value with --task regression`),
      );
      // Two columns cannot be one value: no --task regression advice.
      await expect(s.ctx.registry.register({ model: 'svc', onnx: svc.onnx, missingCategory: 'missing', actor: 't' })).rejects.toThrow(new RegExp(`${refused.source}$`));
      expect(await models()).not.toContain('linearsvc');
      expect(await models()).not.toContain('svc');
      const raw = await s.ctx.registry.register({ model: 'svc-margin', onnx: linearSvc.onnx, task: 'regression', missingCategory: 'missing', actor: 't' });
      expect(raw.manifest).toMatchObject({ contract: { task: 'regression' }, output: { name: 'probabilities' } });
      await s.ctx.registry.promote({ model: 'svc-margin', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      for (const [i, row] of linearSvc.expected.rows.slice(0, 10).entries()) expect((await infer('svc-margin', row)).value).toBeCloseTo(linearSvc.expected.decision![i], 4);
    });
  });
}

describe('a binary model whose classes are words, through the CLI', () => {
  it('evaluate and register --reference read its class labels as the target: ROC AUC of the positive class, as counted from scikit-learn', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const onnx = `${dir}/words.onnx`;
    writeFileSync(onnx, words.onnx);
    const names = Object.keys(words.expected.rows[0]);
    const cell = (v: unknown) => (v === null ? '' : /[",]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
    const csv = `${dir}/words.csv`;
    writeFileSync(csv, [[...names, 'Outcome'].join(','), ...words.expected.rows.map((r, i) => [...names.map((n) => cell(r[n])), words.expected.truth![i]].join(','))].join('\n') + '\n');
    const reg = await runCli(['register', '--model', 'words', '--onnx', onnx, '--positive-class', 'left', '--missing-category', 'missing', '--reference', csv, '--target', 'Outcome', '--json'], env);
    expect(reg.code, reg.stderr).toBe(0);
    const ev = await runCli(['evaluate', '--model', 'words', '--version', '1', '--data', csv, '--target', 'Outcome', '--json'], env);
    expect(ev.code, ev.stderr).toBe(0);
    // The progress ends on the count scored, not on the last multiple of 10,240 (none here).
    expect(ev.stderr).toMatch(/^ {2}50 rows scored$/m);
    const left = words.expected.truth!.map((t) => (t === 'left' ? 1 : 0));
    const auc = aucByPairs(
      words.expected.proba!.map((p) => p[0]),
      left,
    );
    expect(ev.json().candidate.roc_auc).toBeCloseTo(auc, 6);
    // register said the same of its reference rows (the figure monitoring compares live outcomes with).
    expect(reg.json().reference).toEqual({ rows: 50, skipped: 0, metrics: { roc_auc: expect.closeTo(auc, 6), brier: expect.any(Number), log_loss: expect.any(Number) } });
    writeFileSync(csv, readFileSync(csv, 'utf8').replace(/,left\n/, ',gone\n'));
    const bad = await runCli(['evaluate', '--model', 'words', '--version', '1', '--data', csv, '--target', 'Outcome'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--target Outcome: line \d+ has "gone"; a target must be 0\/1, yes\/no or true\/false, or the model's classes "left", "stayed" \("left" is 1\)/);
    // A row with a stray comma is skipped with the reason (not read with its cells one column on), and counted.
    const rows = readFileSync(csv, 'utf8').replace(',gone\n', ',left\n').trimEnd().split('\n');
    writeFileSync(csv, [...rows, rows[1].replace(',', ',,')].join('\n') + '\n');
    const ragged = await runCli(['evaluate', '--model', 'words', '--version', '1', '--data', csv, '--target', 'Outcome'], env);
    expect(ragged.code).toBe(2);
    expect(ragged.stderr).toMatch(/1 of 51 rows cannot be scored \(1 row: more fields than the header's \d+: a comma in a field that is not quoted/);
    const allowed = await runCli(['evaluate', '--model', 'words', '--version', '1', '--data', csv, '--target', 'Outcome', '--allow-skipped'], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toMatch(/^ {2}1 row skipped \(--allow-skipped\): 1 row: more fields than the header's/m);
  }, 120_000);
});
