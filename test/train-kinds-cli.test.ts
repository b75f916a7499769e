import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCarListings } from '../src/training/synthetic-cars.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { startTestServer } from './helpers/server.js';

/** modelgate train for regression and multiclass targets through the real CLI, with the bad inputs real data brings. */
describe('train --task regression | multiclass', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const cars = path.join(dir, 'cars.csv');
  writeFileSync(cars, generateCarListings(3000, 3).csv);

  it('detects a regression target, leaves out and counts NaN and Infinity prices, registers and serves values', async () => {
    const r = await runCli(['train', '--data', cars, '--target', 'price', '--model', 'cars', '--min-r2', '0.8', '--register', '--promote', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/task: price is numeric with more than 255 distinct values: regression/);
    const out = r.json();
    expect(out).toMatchObject({ task: 'regression', registered: { model: 'cars', version: 1 }, gates: [{ gate: 'min_r2', passed: true }], policy: { type: 'value' } });
    expect(out.warnings.join('\n')).toMatch(/price: \d+ rows whose value is not a finite number were left out/);
    expect(out.metrics.r2).toBeGreaterThan(0.8);
    const s = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({
          model: 'cars',
          payload: { year: 2020, odometer: 40000, make: 'toyota', model: 'camry', condition: 'good', fuel: 'gas', transmission: 'automatic', body_type: 'sedan', paint_color: 'white' },
        }),
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      // A 2020 Camry (30,000 new, 14 % a year, 40,000 miles, good): about 14,000 by the generator's formula.
      expect(body.value).toBeGreaterThan(9000);
      expect(body.value).toBeLessThan(20000);
      expect(body.decision).toBe('value');
    } finally {
      await s.stop();
    }
  }, 240_000);

  it('train --register refuses a target of another task than the versions of the model, before training', async () => {
    const r = await runCli(['train', '--data', cars, '--target', 'fuel', '--model', 'cars', '--task', 'multiclass', '--register'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: model cars is a regression model \(version 1\), and the new version would be multiclass: .*--model cars-multiclass/);
    // Refused before the training step, not after it.
    expect(r.stderr).not.toMatch(/\[2\/3\] training/);
  });

  it('a failed --max-mae gate says by how much the MAE is above it, and registers nothing', async () => {
    const small = path.join(dir, 'cars-small.csv');
    writeFileSync(small, generateCarListings(800, 5).csv);
    const r = await runCli(['train', '--data', small, '--target', 'price', '--model', 'cars-gated', '--rounds', '20', '--max-mae', '1', '--register', '--json'], env);
    expect(r.code).toBe(1);
    const out = r.json();
    expect(out).toMatchObject({ registered: null, gates: [{ gate: 'max_mae', passed: false, threshold: 1 }] });
    const said = r.stderr.match(/gate --max-mae 1 failed: mae (\d+\.\d{4}) is (\d+\.\d{4}) above it; nothing was registered/);
    expect(said, r.stderr).not.toBeNull();
    expect(Number(said![1])).toBeCloseTo(out.metrics.mae, 4);
    expect(Number(said![2])).toBeCloseTo(out.metrics.mae - 1, 3);
    expect((await runCli(['models', '--json'], env)).json().models.map((m: { name: string }) => m.name)).not.toContain('cars-gated');
  }, 120_000);

  it('--algo linear on a regression target says ridge regression, solved in closed form, in the summary and the version description', async () => {
    const small = path.join(dir, 'cars-ridge.csv');
    writeFileSync(small, generateCarListings(800, 6).csv);
    const r = await runCli(['train', '--data', small, '--target', 'price', '--model', 'cars-ridge', '--algo', 'linear', '--register'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ridge regression \(regression\) on \d+ rows, \d+ held out \(index split\); solved in closed form, /m);
    expect(r.stdout).not.toMatch(/logreg|Newton/);
    const shown = (await runCli(['models', 'cars-ridge', '--json'], env)).json();
    expect(shown.versions[0].description).toBe(`ridge regression (regression) trained on ${small}`);
  }, 120_000);

  it('a multiclass target with a policy and a gate; a class absent from the training split is named', async () => {
    // "diesel-electric" appears only on rows the index split holds out (every 4th row).
    const lines = generateCarListings(1200, 9).csv.trim().split('\n');
    const header = lines[0].split(',');
    const fuelAt = header.indexOf('fuel');
    const edited = lines.map((l, i) => {
      if (i === 0 || (i - 1) % 4 !== 0 || i > 40) return l;
      const cells = l.split(',');
      cells[fuelAt] = 'diesel-electric';
      return cells.join(',');
    });
    const file = path.join(dir, 'fuel.csv');
    writeFileSync(file, `${edited.join('\n')}\n`);
    const r = await runCli(['train', '--data', file, '--target', 'fuel', '--model', 'fuel', '--policy', 'min_probability=0.7:review', '--min-accuracy', '0.5', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/task: fuel has \d+ distinct values: multiclass/);
    expect(r.stderr).toMatch(/warning: class "diesel-electric" has no rows in the training split/);
    expect(r.json()).toMatchObject({ task: 'multiclass', policy: { type: 'min_probability', min: 0.7, fallback: 'review' }, gates: [{ gate: 'min_accuracy', passed: true }] });
    const badPolicy = await runCli(['train', '--data', file, '--target', 'fuel', '--model', 'fuel', '--policy', 'class_map=steam:act,*:none'], env);
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toMatch(/unknown class "steam"/);
    const wrongGate = await runCli(['train', '--data', file, '--target', 'fuel', '--model', 'fuel', '--min-auc', '0.8'], env);
    expect(wrongGate.code).toBe(2);
    expect(wrongGate.stderr).toMatch(/fuel is a multiclass target: --cost, --bands, --min-auc and --min-f1 are for binary models/);
  }, 240_000);

  it('refuses more than 50 classes without --task, and a regression target that is mostly not numbers', async () => {
    const rows = ['name,x,label', ...Array.from({ length: 600 }, (_, i) => `n${i},${i % 7},class-${i % 60}`)];
    const many = path.join(dir, 'many.csv');
    writeFileSync(many, `${rows.join('\n')}\n`);
    const r = await runCli(['train', '--data', many, '--target', 'label', '--model', 'many'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target label: 60 distinct values that are not numbers; a multiclass model needs --task multiclass beyond 50 classes/);
    const forced = await runCli(['train', '--data', many, '--target', 'label', '--model', 'many', '--task', 'multiclass', '--rounds', '3', '--json'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json().run.classes).toHaveLength(60);
    const bad = ['x,y', ...Array.from({ length: 200 }, (_, i) => `${i},${i % 10 === 0 ? 'Infinity' : i * 1.5}`)];
    const badFile = path.join(dir, 'bad.csv');
    writeFileSync(badFile, `${bad.join('\n')}\n`);
    const refused = await runCli(['train', '--data', badFile, '--target', 'y', '--model', 'bad', '--task', 'regression'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--target y: 20 of 200 values are not finite numbers \(e\.g\. "Infinity"\); a regression target needs numbers/);
  }, 240_000);
});
