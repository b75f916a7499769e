import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { kindFixture } from './helpers/fixtures.js';

/**
 * register, models, policy set and evaluate for multiclass and regression models, through the
 * real CLI. Expected metrics are computed here from onnxruntime's recorded outputs (beside the
 * fixtures), not from modelgate's statistics.
 */
const geo = kindFixture('bank_geography');
const charges = kindFixture('telco_charges');

const csvCell = (v: unknown) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
function writeCsv(file: string, rows: Record<string, unknown>[], extra: Record<string, unknown>[]): void {
  const cols = Object.keys(rows[0]);
  const extraCols = Object.keys(extra[0]);
  const lines = [[...cols, ...extraCols].join(','), ...rows.map((r, i) => [...cols.map((c) => csvCell(r[c])), ...extraCols.map((c) => csvCell(extra[i][c]))].join(','))];
  writeFileSync(file, `${lines.join('\n')}\n`);
}

const argmax = (p: number[]) => p.indexOf(Math.max(...p));

describe('model kinds through the CLI', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const geoOnnx = path.join(dir, 'geo.onnx');
  const chargesOnnx = path.join(dir, 'charges.onnx');
  writeFileSync(geoOnnx, geo.onnx);
  writeFileSync(chargesOnnx, charges.onnx);

  // Multiclass truth: the model's own class for three rows in four, another class for the fourth; one real "?" (a class, not a missing value).
  const predictedByOrt = geo.expected.onnxruntime.map((p) => geo.expected.classes[argmax(p)]);
  const geoTruth = predictedByOrt.map((c, i) => (i === 5 ? '?' : i % 4 === 0 ? (c === 'Spain' ? 'France' : 'Spain') : c));
  const geoCsv = path.join(dir, 'geo.csv');
  writeCsv(
    geoCsv,
    geo.expected.rows,
    geoTruth.map((Geography) => ({ Geography })),
  );

  // Regression truth: onnxruntime's value moved by -6 to +6.
  const chargesTruth = charges.expected.onnxruntime.map((v, i) => Math.round((v + ((i % 5) - 2) * 3) * 100) / 100);
  const chargesCsv = path.join(dir, 'charges.csv');
  writeCsv(
    chargesCsv,
    charges.expected.rows,
    chargesTruth.map((MonthlyCharges) => ({ MonthlyCharges })),
  );
  const dirtyCsv = path.join(dir, 'charges-dirty.csv');
  writeCsv(
    dirtyCsv,
    charges.expected.rows,
    chargesTruth.map((v, i) => ({ MonthlyCharges: i === 3 ? 'NaN' : i === 4 ? '' : i === 7 ? 'Infinity' : v })),
  );

  it('register reads the task; models lists it; a multiclass evaluation matches the confusion counted from onnxruntime outputs', async () => {
    const g = await runCli(['register', '--model', 'geo', '--onnx', geoOnnx, '--json'], env);
    expect(g.code, g.stderr).toBe(0);
    expect(g.json()).toMatchObject({ contract: { task: 'multiclass' }, policy: { type: 'label' } });
    const text = await runCli(['register', '--model', 'charges', '--onnx', chargesOnnx, '--policy', 'bands=low:30,mid:70,high'], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/task +regression, the value is column 0 of variable/);
    expect(text.stdout).toMatch(/policy +bands low < 30, mid < 70, high/);
    const bad = await runCli(['register', '--model', 'charges', '--onnx', chargesOnnx, '--policy', 'label'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/a regression model takes a threshold, bands, value policy/);
    for (const m of ['geo', 'charges']) expect((await runCli(['promote', '--model', m, '--version', '1'], env)).code).toBe(0);
    const models = await runCli(['models', '--json'], env);
    expect(models.json().models.map((m: { name: string; task: string }) => [m.name, m.task])).toEqual([
      ['charges', 'regression'],
      ['geo', 'multiclass'],
    ]);

    const r = await runCli(['evaluate', '--model', 'geo', '--data', geoCsv, '--target', 'Geography', '--min-accuracy', '0.5', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const report = r.json();
    const correct = geoTruth.filter((t, i) => t === predictedByOrt[i]).length;
    expect(report).toMatchObject({ task: 'multiclass', data: { skipped: 0 }, candidate: { task: 'multiclass', rows: 200, unknown_class_rows: 0 }, gates: [{ gate: 'min_accuracy', passed: true }] });
    expect(report.candidate.accuracy).toBeCloseTo(correct / 200, 12);
    const { classes, matrix } = report.candidate.confusion;
    expect(classes).toEqual(geo.expected.classes);
    const spain = classes.indexOf('Spain');
    const france = classes.indexOf('France');
    expect(matrix[spain][france]).toBe(geoTruth.filter((t, i) => t === 'Spain' && predictedByOrt[i] === 'France').length);
    expect(matrix[classes.indexOf('?')].reduce((a: number, b: number) => a + b, 0)).toBe(1);
    // Log loss from onnxruntime's probabilities of the real classes.
    const ll = -geoTruth.reduce((a, t, i) => a + Math.log(Math.max(geo.expected.onnxruntime[i][classes.indexOf(t)], 1e-15)), 0) / 200;
    expect(report.candidate.log_loss).toBeCloseTo(ll, 5);

    const human = await runCli(['evaluate', '--model', 'geo', '--data', geoCsv, '--target', 'Geography'], env);
    expect(human.stdout).toMatch(/macro F1/);
    expect(human.stdout).toMatch(/confusion matrix \(rows: real class, columns: predicted\)/);
  }, 240_000);

  it('a regression evaluation: MAE and RMSE as counted from onnxruntime values, gates per kind, dirty targets skipped and counted', async () => {
    const r = await runCli(
      ['evaluate', '--model', 'charges', '--data', chargesCsv, '--target', 'MonthlyCharges', '--baseline', 'production', '--max-metric-drop', '0', '--min-r2', '0.5', '--max-mae', '10', '--json'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const report = r.json();
    const errors = chargesTruth.map((t, i) => t - charges.expected.onnxruntime[i]);
    expect(report.candidate.mae).toBeCloseTo(errors.reduce((a, e) => a + Math.abs(e), 0) / 200, 4);
    expect(report.candidate.rmse).toBeCloseTo(Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / 200), 4);
    expect(report.candidate.deciles).toHaveLength(10);
    expect(report.candidate.decision_rates).toEqual({
      low: charges.expected.onnxruntime.filter((v) => v < 30).length / 200,
      mid: charges.expected.onnxruntime.filter((v) => v >= 30 && v < 70).length / 200,
      high: charges.expected.onnxruntime.filter((v) => v >= 70).length / 200,
    });
    expect(report.gates.map((g: { gate: string; passed: boolean }) => [g.gate, g.passed])).toEqual([
      ['min_r2', true],
      ['max_mae', true],
      ['max_metric_drop', true],
    ]);

    const failing = await runCli(['evaluate', '--model', 'charges', '--data', chargesCsv, '--target', 'MonthlyCharges', '--max-mae', '1'], env);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/gate max_mae 1 failed/);
    expect(failing.stdout).toMatch(/predicted vs actual by decile/);
    const wrongGate = await runCli(['evaluate', '--model', 'charges', '--data', chargesCsv, '--target', 'MonthlyCharges', '--min-auc', '0.7'], env);
    expect(wrongGate.code).toBe(2);
    expect(wrongGate.stderr).toMatch(/--min-auc is a gate for binary models; charges is regression \(its gates: --min-r2, --max-mae, --max-metric-drop\)/);

    const dirty = await runCli(['evaluate', '--model', 'charges', '--data', dirtyCsv, '--target', 'MonthlyCharges'], env);
    expect(dirty.code).toBe(2);
    expect(dirty.stderr).toMatch(/3 of 200 rows have no usable target \(3 rows: no finite MonthlyCharges value\)\. Fill in or remove those rows, or pass --allow-skipped/);
    expect(dirty.stderr).not.toMatch(/--missing-category/);
    const allowed = await runCli(['evaluate', '--model', 'charges', '--data', dirtyCsv, '--target', 'MonthlyCharges', '--allow-skipped', '--json'], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json()).toMatchObject({ data: { skipped: 3 }, candidate: { rows: 197 } });

    // Categories the version does not know are evaluated as unseen ones, and said.
    const typos = path.join(dir, 'charges-typos.csv');
    writeCsv(
      typos,
      charges.expected.rows.map((r, i) => (i < 4 ? { ...r, InternetService: 'fiber-optic' } : r)),
      chargesTruth.map((v) => ({ MonthlyCharges: v })),
    );
    const unseen = await runCli(['evaluate', '--model', 'charges', '--data', typos, '--target', 'MonthlyCharges', '--json'], env);
    expect(unseen.code, unseen.stderr).toBe(0);
    expect(unseen.json().data.unseen_categories).toEqual({ InternetService: { rows: 4, values: { 'fiber-optic': 4 } } });
    expect(unseen.stderr).toMatch(/warning: categories this version does not know, scored as unseen ones: InternetService in 4 rows \("fiber-optic" 4, did you mean "Fiber optic"\?\)/);
  }, 240_000);

  it('register --positive-class serves one class of a multiclass graph as a binary score, by its label', async () => {
    const germany = await runCli(['register', '--model', 'germany', '--onnx', geoOnnx, '--positive-class', 'Germany'], env);
    expect(germany.code, germany.stderr).toBe(0);
    expect(germany.stdout).toMatch(/task +binary, the score is column 2 of probabilities \(from ZipMap output_probability\) \(class "Germany"\)/);
    const italy = await runCli(['register', '--model', 'italy', '--onnx', geoOnnx, '--positive-class', 'Italy'], env);
    expect(italy.code).toBe(2);
    expect(italy.stderr).toMatch(/positive_class "Italy" is not a class of this output; its classes are "\?", "France", "Germany", "Spain"/);
  });

  it('policy set --policy per kind; --cost is for binary models', async () => {
    const p = await runCli(['policy', 'set', '--model', 'geo', '--version', '1', '--policy', 'min_probability=0.6:review', '--json'], env);
    expect(p.code, p.stderr).toBe(0);
    expect(p.json()).toMatchObject({ version: 2, policy: { type: 'min_probability', min: 0.6, fallback: 'review' } });
    const unknown = await runCli(['policy', 'set', '--model', 'geo', '--version', '1', '--policy', 'class_map=Italy:act,*:none'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown class "Italy"/);
    const cost = await runCli(['policy', 'set', '--model', 'charges', '--version', '1', '--cost', 'tp=0,fp=-1,fn=-5,tn=0', '--data', chargesCsv, '--target', 'MonthlyCharges'], env);
    expect(cost.code).toBe(2);
    expect(cost.stderr).toMatch(/charges version 1 is regression: give --policy/);
    const threshold = await runCli(['policy', 'set', '--model', 'charges', '--version', '1', '--threshold', '80', '--json'], env);
    expect(threshold.code, threshold.stderr).toBe(0);
    expect(threshold.json().policy).toEqual({ type: 'threshold', threshold: 80, above: 'act', below: 'none' });
    // Not a number: said without a range (it read "from -1.7976931348623157e+308 to 1.7976931348623157e+308").
    const word = await runCli(['policy', 'set', '--model', 'charges', '--version', '1', '--threshold', 'abc'], env);
    expect(word.code).toBe(2);
    expect(word.stderr).toBe('error: --threshold must be a number, got "abc"\n');
  }, 240_000);
});
