import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { indexSplit, trainModel } from '../src/training/train.js';
import { chooseThreshold, crossFitted } from '../src/training/threshold.js';
import type { ReferenceProfile } from '../src/registry/index.js';
import { normal, seededRandom } from '../src/training/random.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fixture } from './helpers/fixtures.js';
import { averagePrecisionByRanks } from './helpers/independent.js';

const data = generateHotelBookings(4000, 21);

/** A data directory with the telco pipeline fixture as telco.onnx and its held-out rows as holdout.csv; `blank` empties cells. */
function telcoWorkspace(blank: (column: string, row: number) => boolean = () => false) {
  const { onnx, expected } = fixture('telco_churn');
  const dir = tempDir();
  const model = path.join(dir, 'telco.onnx');
  writeFileSync(model, onnx);
  const cols = Object.keys(expected.rows[0]);
  const lines = [[...cols, 'Churn'].join(','), ...expected.rows.map((r, i) => [...cols.map((c) => (blank(c, i) || r[c] === null ? '' : String(r[c]))), expected.labels[i] ? 'Yes' : 'No'].join(','))];
  const csv = path.join(dir, 'holdout.csv');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  return { dir, env: { MODELGATE_DATA_DIR: dir }, model, csv, expected };
}

function csvOf(rows: number): string {
  const cols = [...Object.keys(data.numeric), ...Object.keys(data.categorical)];
  const lines = [[...cols, 'is_canceled'].join(',')];
  for (let i = 0; i < rows; i++) {
    const p = rowPayload(data, i);
    lines.push([...cols.map((c) => (p[c] === null ? 'NA' : String(p[c]))), data.label[i] ? 'yes' : 'no'].join(','));
  }
  return `${lines.join('\n')}\n`;
}

describe('trained models served over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
  });
  afterAll(() => s?.stop());

  for (const algo of ['gbdt', 'logreg'] as const) {
    it(`${algo}: /v1/infer returns the trainer's own held-out scores within 1e-5`, async () => {
      const split = indexSplit(data, 0.25);
      const t = trainModel({ data, algo, split, gbdt: { rounds: 40 } });
      const model = `hotel-${algo}`;
      await s.ctx.registry.register({ model, onnx: t.onnx, policy: t.policy, manifest: { metrics: t.metrics, training: t.run, reference: t.reference }, actor: 't' });
      await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      for (let i = 0; i < 60; i++) {
        const res = await s.app.inject({
          method: 'POST',
          url: '/v1/infer',
          headers: { ...s.auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ model, payload: rowPayload(split.test, i) }),
        });
        expect(res.statusCode).toBe(200);
        const body = res.json();
        expect(Math.abs(body.score - t.testScores[i])).toBeLessThan(1e-5);
        expect(body.decision).toBe(t.testScores[i] >= (t.policy as { threshold: number }).threshold ? 'act' : 'none');
      }
    });
  }
});

describe('held-out metrics', () => {
  it("PR AUC is the mean, over the held-out positives, of the precision at and above each one's score", () => {
    const split = indexSplit(data, 0.25);
    const t = trainModel({ data, algo: 'gbdt', split, gbdt: { rounds: 20 } });
    expect(split.test.label.reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
    expect(t.metrics.pr_auc).toBeCloseTo(averagePrecisionByRanks(t.testScores, split.test.label), 12);
    expect(t.metrics.pr_auc).toBeGreaterThan(t.metrics.positive_rate);
  });

  it('F1, precision, recall and profit of the chosen threshold are cross-fitted; a bands policy is measured as it is', () => {
    const split = indexSplit(data, 0.25);
    const costs = { tp: 50, fp: -10, fn: 0, tn: 0 };
    const t = trainModel({ data, algo: 'logreg', split, costs });
    const fitted = crossFitted(t.testScores, split.test.label, costs);
    expect(t.metrics).toMatchObject({ f1: fitted.f1, precision: fitted.precision, recall: fitted.recall, expected_profit_per_row: fitted.profit_per_row });
    expect(t.run.params).toMatchObject({ threshold_objective: 'profit', threshold_metrics: 'cross_fitted' });
    // At the threshold chosen on all the held-out rows, the same rows realise more.
    const threshold = (t.policy as { threshold: number }).threshold;
    let realised = 0;
    t.testScores.forEach((v, i) => (realised += v >= threshold ? (split.test.label[i] ? 50 : -10) : 0));
    expect(realised / split.test.rows).toBeGreaterThan(t.metrics.expected_profit_per_row);
    // A bands policy was not chosen on these rows: its review and block rows are what acting means.
    const bands = trainModel({
      data,
      algo: 'logreg',
      split,
      bands: {
        type: 'bands',
        bands: [
          { decision: 'allow', below: 0.3 },
          { decision: 'review', below: 0.7 },
          { decision: 'block', below: null },
        ],
      },
    });
    expect(bands.run.params).not.toHaveProperty('threshold_metrics');
    let tp = 0;
    let fp = 0;
    let fn = 0;
    bands.testScores.forEach((v, i) => (v >= 0.3 ? (split.test.label[i] ? tp++ : fp++) : split.test.label[i] ? fn++ : 0));
    expect(bands.metrics.f1).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 12);
  });
});

describe('decision thresholds', () => {
  it('maximise profit with costs, F1 without; acting on nobody when every action loses', () => {
    const scores = [0.9, 0.8, 0.7, 0.4, 0.2];
    const labels = [1, 1, 0, 1, 0];
    // Catching a positive saves 100, bothering a negative costs 20: act down to 0.4 (3 tp, 1 fp),
    // with the threshold midway to the next score down (0.2), clear of both.
    expect(chooseThreshold(scores, labels, { tp: 0, fp: -20, fn: -100, tn: 0 })).toMatchObject({ threshold: expect.closeTo(0.3, 12), objective: 'profit', value: -20 });
    // F1: at 0.8, 2tp/(2·2+0+1) = 0.8; at 0.4, 6/(6+1+0) = 0.857.
    expect(chooseThreshold(scores, labels)).toMatchObject({ threshold: expect.closeTo(0.3, 12), objective: 'f1' });
    // Acting on the two highest: midway between 0.8 and 0.7.
    expect(chooseThreshold(scores, labels, { tp: 0, fp: -50, fn: -40, tn: 0 })).toMatchObject({ threshold: 0.75, value: -40 });
    // Acting on everyone: midway to 0.
    expect(chooseThreshold(scores, labels, { tp: 10, fp: 0, fn: 0, tn: -1 }).threshold).toBe(0.1);
    expect(chooseThreshold(scores, labels, { tp: -1, fp: -1, fn: 0, tn: 0 }).threshold).toBe(1.01);
  });

  it('are measured on rows that did not choose them: each half at the threshold chosen on the other', () => {
    const scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.15, 0.1];
    const labels = [1, 0, 1, 1, 0, 1, 0, 0];
    // Every other row of each class: {0.9, 0.8, 0.6, 0.15} and {0.7, 0.4, 0.3, 0.1}. The second
    // half's best F1 acts down to 0.3 (threshold 0.2), which decides the first: 0.9 tp, 0.8 fp,
    // 0.6 tp, 0.15 tn. The first's acts down to 0.6 (threshold 0.375): 0.7 tp, 0.4 fp, 0.3 fn,
    // 0.1 tn. Together 3 tp, 2 fp, 1 fn: F1 6/9, where the threshold chosen on all eight reads 0.8.
    const f = crossFitted(scores, labels);
    expect(f.f1).toBeCloseTo(6 / 9, 12);
    expect(f.precision).toBeCloseTo(3 / 5, 12);
    expect(f.recall).toBeCloseTo(3 / 4, 12);
    expect(f.profit_per_row).toBeUndefined();
    expect(chooseThreshold(scores, labels).value).toBeCloseTo(0.8, 12);
    // With costs, the same two thresholds (profit 15 either way, at 0.3 and at 0.6): 20 over 8 rows.
    expect(crossFitted(scores, labels, { tp: 10, fp: -5, fn: 0, tn: 0 }).profit_per_row).toBeCloseTo(20 / 8, 12);
  });

  it('read on fresh rows what the cross-fitted figure says, where the rows that chose read high', () => {
    const rand = seededRandom(5);
    const draw = (n: number) => {
      const labels = Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
      return { labels, scores: labels.map((y) => 1 / (1 + Math.exp(-(2 * y - 1 + 1.5 * normal(rand))))) };
    };
    const f1At = (threshold: number, d: { labels: number[]; scores: number[] }) => {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      d.scores.forEach((s, i) => (s >= threshold ? (d.labels[i] ? tp++ : fp++) : d.labels[i] ? fn++ : 0));
      return (2 * tp) / (2 * tp + fp + fn);
    };
    let chose = 0;
    let fitted = 0;
    let fresh = 0;
    const draws = 150;
    for (let k = 0; k < draws; k++) {
      const held = draw(200);
      const threshold = chooseThreshold(held.scores, held.labels).threshold;
      chose += f1At(threshold, held) / draws;
      fitted += crossFitted(held.scores, held.labels).f1 / draws;
      fresh += f1At(threshold, draw(4000)) / draws;
    }
    expect(chose - fresh).toBeGreaterThan(0.02);
    expect(Math.abs(fitted - fresh)).toBeLessThan(0.01);
  });
});

describe('modelgate train', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const csv = path.join(dir, 'bookings.csv');
  writeFileSync(csv, csvOf(3000));

  it('trains, registers only when the gates pass, records the run, and promotes', async () => {
    const failed = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--min-auc', '0.999', '--register', '--json'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/gate --min-auc 0\.999 failed: roc_auc 0\.\d{4} is 0\.\d{4} below it; nothing was registered/);
    expect(failed.json()).toMatchObject({ registered: null, gates: [{ gate: 'min_auc', passed: false }] });

    const ok = await runCli(
      ['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--cost', 'tp=0,fp=-20,fn=-100,tn=0', '--min-auc', '0.7', '--register', '--promote', '--json'],
      env,
    );
    expect(ok.code, ok.stderr).toBe(0);
    const out = ok.json();
    expect(out).toMatchObject({ registered: { model: 'hotel', version: 1 }, promoted: true, gates: [{ gate: 'min_auc', passed: true }], policy: { type: 'threshold' } });
    expect(out.run).toMatchObject({ algorithm: 'gbdt', rows: { train: 2250, test: 750 }, dataset: { rows_read: 3000 }, split: { kind: 'index', test_fraction: 0.25 } });
    expect(ok.stderr).toMatch(/round \d+\/30/);
    const said = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--cost', 'tp=0,fp=-20,fn=-100,tn=0'], env);
    expect(said.stdout).toContain(`held out: ROC AUC ${out.metrics.roc_auc.toFixed(4)}, PR AUC ${out.metrics.pr_auc.toFixed(4)}, F1 `);
    expect(said.stdout).toContain('(F1, precision, recall and profit: each half of the held-out rows decided at the threshold chosen on the other half, as rows that did not choose it will be)');
    expect(out.run.params).toMatchObject({ threshold_objective: 'profit', threshold_metrics: 'cross_fitted' });
    const shown = await runCli(['models', 'hotel', '--json'], env);
    expect(shown.json().aliases).toEqual({ production: 1 });
    // The held-out ROC AUC train printed, beside the version in the list.
    expect(shown.json().versions[0].held_out).toEqual({ metric: 'roc_auc', value: out.metrics.roc_auc });
    expect((await runCli(['models', 'hotel'], env)).stdout).toMatch(new RegExp(`^1 +active +binary +production +none,act +ROC AUC ${out.metrics.roc_auc.toFixed(4)} `, 'm'));
    const v = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      const manifest = (await v.ctx.registry.getVersion('hotel', 1)).manifest;
      expect(manifest.reference).toMatchObject({ format: 'modelgate.reference/v1', rows: 2250 });
      expect(manifest.training).toMatchObject({ run_id: out.run.run_id, dataset: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }, params: { cost_matrix: { tp: 0, fp: -20, fn: -100, tn: 0 } } });
      expect(manifest.dataset_sha256).toBe(out.run.dataset.sha256);
    } finally {
      await v.stop();
    }
  });

  it('rows a file repeats (group bookings): held-out rows with a copy in training are warned of; --group-copies keeps copies on one side', async () => {
    // 1,000 distinct bookings, then 200 of them again, as exports of group bookings repeat rows: rows
    // the index split holds out (0, 4, 8, …), so with --group-copies their copies are held out too (450 held out, not 300).
    const [header, ...rows] = csvOf(1000).trimEnd().split('\n');
    const repeated = path.join(dir, 'repeated.csv');
    const all = [...rows, ...rows.filter((_, i) => i % 4 === 0).slice(0, 200)];
    writeFileSync(repeated, `${[header, ...all].join('\n')}\n`);
    const plain = await runCli(['train', '--data', repeated, '--target', 'is_canceled', '--model', 'groups', '--rounds', '10', '--json'], env);
    expect(plain.code, plain.stderr).toBe(0);
    // By hand: held out when i % 4 == 0; such a row has a copy in training when a line of the same text is not.
    const heldLines = all.filter((_, i) => i % 4 === 0);
    const trainedLines = new Set(all.filter((_, i) => i % 4 !== 0));
    const withCopy = heldLines.filter((line) => trainedLines.has(line)).length;
    expect(withCopy).toBe(150);
    const warning = `150 of the 300 held-out rows (50 %) have an exact copy (every column used, the target too) among the training rows: if copies are one event recorded more than once (a group booking, a row exported twice), the held-out figures partly measure memory and flatter the model; --group-copies keeps each row and its copies on one side of the split`;
    expect(plain.json()).toMatchObject({ run: { rows: { train: 900, test: 300 }, split: { kind: 'index', copies: 200, held_out_with_copy: 150 } } });
    expect(plain.json().warnings).toContain(warning);
    expect(plain.stderr).toContain(`  warning: ${warning}\n`);

    const grouped = await runCli(['train', '--data', repeated, '--target', 'is_canceled', '--model', 'groups', '--rounds', '10', '--group-copies', '--json'], env);
    expect(grouped.code, grouped.stderr).toBe(0);
    // By hand: a row is held out when the first line holding its text is i % 4 == 0.
    const firstAt = new Map<string, number>();
    all.forEach((line, i) => firstAt.has(line) || firstAt.set(line, i));
    const held = all.filter((line) => firstAt.get(line)! % 4 === 0).length;
    expect(held).toBe(450);
    expect(grouped.json().run).toMatchObject({ rows: { train: 1200 - held, test: held }, split: { kind: 'index', group_copies: true, copies: 200, held_out_with_copy: 0 } });
    expect(grouped.json().warnings ?? []).not.toContain(warning);
    expect(grouped.stderr).toContain('  note: 200 rows repeat an earlier row exactly (every column used, the target too): each is on the side of the split of the row it copies (--group-copies)\n');
  });

  it('evaluate on the file a version was trained on warns that the metrics flatter it, naming the held-out one; on other rows it does not', async () => {
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path.join(dir, 'modelgate.db'), { readonly: true });
    const manifest = JSON.parse((db.prepare("select manifest from model_versions where model = 'hotel' and version = 1").get() as { manifest: string }).manifest) as {
      metrics: { roc_auc: number };
    };
    db.close();
    const r = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', csv, '--target', 'is_canceled', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const warning = `${csv} is the file version 1 was trained on: 2,250 of its 3,000 rows trained it, so its metrics here flatter it (held out in training, its ROC AUC was ${manifest.metrics.roc_auc.toFixed(4)}); evaluate on rows it never saw, such as newer labelled data`;
    expect(r.json().warnings).toEqual([warning]);
    expect(r.stderr).toContain(`warning: ${warning}`);
    // The rows it trained on score better than the ones it held out.
    expect(r.json().candidate.roc_auc).toBeGreaterThan(manifest.metrics.roc_auc);
    // Other rows (a new file, the same generator): no warning; the gate line says what it measured.
    const later = path.join(dir, 'later.csv');
    const lines = csvOf(3500).split('\n');
    writeFileSync(later, [lines[0], ...lines.slice(3001)].join('\n')); // rows 3,000 to 3,499, which it never saw
    const other = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', later, '--target', 'is_canceled', '--min-auc', '0.5'], env);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stderr).not.toMatch(/warning/);
    expect(other.stdout).toMatch(/^gate min_auc: passed \(ROC AUC 0\.\d{4}; at least 0\.5 needed\)$/m);
    // A longer export of the same table (its 3,000 rows, then 500 more): another file, but most of its rows trained version 1.
    const longer = path.join(dir, 'longer.csv');
    writeFileSync(longer, lines.join('\n'));
    const both = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', longer, '--target', 'is_canceled', '--json'], env);
    expect(both.code, both.stderr).toBe(0);
    const said =
      /^about (\d+) % of these rows are rows version 1 was trained on \(estimated on ([\d,]+) of them, against a sample of its training rows kept with its run\), so its metrics here flatter it \(held out in training, its ROC AUC was 0\.\d{4}\)/.exec(
        both.json().warnings[0],
      );
    expect(said, JSON.stringify(both.json().warnings)).not.toBeNull();
    // By hand: a row is a training row when its cells but the target are those of a row the split trained on (rows 1 to 3,000, not every fourth).
    const header = lines[0]!.split(',');
    const features = (line: string) =>
      line
        .split(',')
        .filter((_, j) => header[j] !== 'is_canceled')
        .join(',');
    const trainedOn = new Set(
      lines
        .slice(1, 3001)
        .filter((_, i) => i % 4 !== 0)
        .map(features),
    );
    const exact = lines.slice(1).filter((l) => l && trainedOn.has(features(l))).length / (lines.length - 1);
    expect(Math.abs(Number(said![1]) - exact * 100)).toBeLessThanOrEqual(6);
    // Without --target, the column the version was trained to predict: the same report as naming it.
    const named = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', later, '--target', 'is_canceled', '--json'], env);
    const recorded = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', later, '--json'], env);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(recorded.stderr).toContain('target: is_canceled (the column version 1 was trained to predict; --target names another)\n');
    const { generated_at: _a, ...withFlag } = named.json();
    const { generated_at: _b, ...withRecord } = recorded.json();
    expect(withRecord).toEqual(withFlag);
    expect(withRecord.data.target).toBe('is_canceled');
    // A file without that column says where the name came from.
    const unlabelled = path.join(dir, 'unlabelled.csv');
    writeFileSync(
      unlabelled,
      [
        lines[0]
          .split(',')
          .filter((c) => c !== 'is_canceled')
          .join(','),
        '',
      ].join('\n'),
    );
    const without = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', unlabelled], env);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain(`error: ${unlabelled}: no column is_canceled (the column version 1 was trained to predict; --target names another)`);
  });

  it('a column that alone gives the target on the held-out rows is named before training, with the --exclude that leaves it out', async () => {
    // What the real hotel bookings export has: reservation_status is written after the stay (or the cancellation).
    const lines = csvOf(3000).trimEnd().split('\n');
    const leaky = path.join(dir, 'leaky.csv');
    writeFileSync(
      leaky,
      `${[`${lines[0]},reservation_status,adr_cents`, ...lines.slice(1).map((l, i) => `${l},${data.label[i] ? 'Canceled' : 'Check-Out'},${Math.round(Number(rowPayload(data, i).adr) * 100)}`)].join(
        '\n',
      )}\n`,
    );
    const warning =
      'reservation_status (ROC AUC 1.000) alone predicts is_canceled on the held-out rows almost perfectly: a column written after the outcome leaks it, and serving will not have it when it decides; if so, leave it out with --exclude reservation_status';
    const binary = await runCli(['train', '--data', leaky, '--target', 'is_canceled', '--model', 'leaky', '--rounds', '5', '--exclude', 'adr_cents', '--json'], env);
    expect(binary.code, binary.stderr).toBe(0);
    expect(binary.stderr).toContain(`  warning: ${warning}\n[2/3] training`);
    expect(binary.json().warnings).toContain(warning);
    // With --register: refused, exit 1, nothing registered (serving would score every request without the column).
    const args = ['train', '--data', leaky, '--target', 'is_canceled', '--model', 'leaky', '--rounds', '5', '--exclude', 'adr_cents', '--register', '--json'];
    const refused = await runCli(args, env);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.json()).toMatchObject({ registered: null, leaking_columns: [{ column: 'reservation_status', measure: 'roc_auc', value: 1 }] });
    expect(refused.stderr).toContain(
      'error: reservation_status gives is_canceled away on the held-out rows; leave it out with --exclude reservation_status, or, if serving has it when it decides, keep it with --include reservation_status; nothing was registered\n',
    );
    expect((await runCli(['models', '--json'], env)).json().models.map((m: { name: string }) => m.name)).not.toContain('leaky');
    // Kept on purpose: registered, and not warned of.
    const kept = await runCli([...args, '--include', 'reservation_status'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.json()).toMatchObject({ registered: { model: 'leaky', version: 1 } });
    expect(kept.json().warnings).not.toContain(warning);
    // A regression target and its own value in cents: the same, through the other tasks' path.
    const regression = await runCli(['train', '--data', leaky, '--target', 'adr', '--model', 'leaky-adr', '--rounds', '5', '--exclude', 'reservation_status', '--json'], env);
    expect(regression.code, regression.stderr).toBe(0);
    expect(regression.json().warnings).toEqual([expect.stringMatching(/^adr_cents \(R² 1\.000\) alone predicts adr on the held-out rows almost perfectly: .*--exclude adr_cents$/)]);
    // Without them: nothing is named (the first test's file).
    const clean = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'leaky', '--rounds', '5'], env);
    expect(clean.stderr).not.toMatch(/alone predicts/);
  });

  it('bad input: unknown columns, useless costs, a bad algorithm, exit 2 with a message', async () => {
    const unknown = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--exclude', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no column nope/);
    const costs = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--cost', 'tp=5,fn=5'], env);
    expect(costs.code).toBe(2);
    expect(costs.stderr).toMatch(/no threshold is better than another/);
    expect((await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--algo', 'forest'], env)).code).toBe(2);
    const missing = await runCli(['train', '--data', path.join(dir, 'nope.csv'), '--target', 'y', '--model', 'hotel'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read \S*nope\.csv: no such file; give the path of a CSV file with a header row/);
  });

  it('a file too small to learn from trains, and says that the held-out figures and the model mean nothing; --json lists it', async () => {
    const tiny = path.join(dir, 'tiny.csv');
    // 12 rows: 9 to train on (too few for one split of 20 rows a side), 3 held out (rows 0, 4 and 8:
    // cancelled, not, cancelled).
    const [header, ...rows] = csvOf(3000).trimEnd().split('\n');
    const [yes, no] = [rows.filter((l) => l.endsWith(',yes')), rows.filter((l) => l.endsWith(',no'))];
    writeFileSync(tiny, [header, ...Array.from({ length: 12 }, (_, i) => (Math.floor(i / 4) % 2 === 0 ? yes : no)[i])].join('\n') + '\n');
    const r = await runCli(['train', '--data', tiny, '--target', 'is_canceled', '--model', 'tiny', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const { warnings, run } = r.json();
    expect(run.rows).toEqual({ train: 9, test: 3 });
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^held out: 1 negative row of 3, too few to measure on: ROC AUC, F1 and precision, and the threshold chosen on these rows, would change a lot/),
        expect.stringMatching(
          /^the model gives every held-out row the same score \([0-9.]+\), so it learnt nothing from the columns: gbdt splits a node only when each side keeps 20 rows, and the training split has 9$/,
        ),
      ]),
    );
    expect(r.stderr).toMatch(/^ {2}warning: the model gives every held-out row the same score/m);
    // The bookings file the other tests train on has enough of each class: no such warning.
    const enough = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'enough', '--rounds', '5', '--json'], env);
    expect(enough.json().warnings.filter((w: string) => /too few to measure|learnt nothing/.test(w))).toEqual([]);
  });

  it('--l2 reaches a binary logistic regression; a flag of the other algorithm is refused, not ignored', async () => {
    // Before: a binary target's logreg trained with l2 = 1 whatever --l2 said (even "abc"), and
    // gbdt took --l2 and logreg --rounds without a word.
    const fit = async (...flags: string[]) => {
      const r = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--algo', 'logreg', ...flags, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return r.json() as { run: { params: { l2: number } }; metrics: { log_loss: number } };
    };
    const [plain, heavy] = [await fit(), await fit('--l2', '1e6')];
    expect(plain.run.params.l2).toBe(1);
    expect(heavy.run.params.l2).toBe(1e6);
    // A penalty that large pulls every coefficient to nearly 0: the held-out log loss is the base rate's, far above the fitted model's.
    const p = data.label.reduce((a, b) => a + b, 0) / data.rows;
    const baseRate = -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    expect(Math.abs(heavy.metrics.log_loss - baseRate)).toBeLessThan(0.02);
    expect(plain.metrics.log_loss).toBeLessThan(baseRate - 0.05);
    const bad = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--algo', 'logreg', '--l2', 'abc'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--l2 must be a number from 0 to 1000000000, got "abc"/);
    const gbdtL2 = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--l2', '10'], env);
    expect(gbdtL2.code).toBe(2);
    expect(gbdtL2.stderr).toContain('error: --l2 is the penalty of a linear model; gbdt takes --rounds, --learning-rate, --max-leaves and --max-depth (or give --algo logreg)');
    const logregRounds = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--algo', 'linear', '--rounds', '10', '--max-depth', '3'], env);
    expect(logregRounds.code).toBe(2);
    expect(logregRounds.stderr).toContain('error: --rounds, --max-depth are for gbdt; a linear model (--algo linear) takes --l2');
    // A linear regression is ridge (squared error): --loss chose nothing there.
    const linearLoss = await runCli(['train', '--data', csv, '--target', 'adr', '--model', 'hotel-adr', '--algo', 'linear', '--loss', 'huber'], env);
    expect(linearLoss.code).toBe(2);
    expect(linearLoss.stderr).toContain('error: --loss is for gbdt; a linear model (--algo linear) takes --l2');
  });

  it('train --register --if-changed run twice registers once: the same graph, policy and data is named, not registered again', async () => {
    const args = ['train', '--data', csv, '--target', 'is_canceled', '--model', 'twice', '--algo', 'logreg', '--register', '--promote', '--if-changed', '--json'];
    const first = await runCli(args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json().registered).toEqual({ model: 'twice', version: 1 });
    const again = await runCli(args, env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json()).toMatchObject({ registered: { model: 'twice', version: 1, unchanged: true }, promoted: true });
    expect(again.stderr).toContain('[3/3] version 1 of twice is this training already (the same graph, policy and data): nothing registered');
    const text = await runCli(
      args.filter((a) => a !== '--json'),
      env,
    );
    expect(text.stdout).toMatch(/^unchanged: twice version 1 is this training already; nothing registered; it is production$/m);
    // Without the flag it registers again, and says what it repeats.
    const repeat = await runCli(
      args.filter((a) => a !== '--if-changed'),
      env,
    );
    expect(repeat.json().registered).toEqual({ model: 'twice', version: 2 });
    expect(repeat.stderr).toContain('note: the same graph, policy and data as version 1, registered again (--if-changed keeps version 1 instead)');
    // Other data is another model.
    const other = path.join(dir, 'other.csv');
    writeFileSync(other, csvOf(2900));
    const changed = await runCli(['train', '--data', other, ...args.slice(3)], env);
    expect(changed.json().registered).toEqual({ model: 'twice', version: 3 });
    expect((await runCli(['models', 'twice', '--json'], env)).json().versions).toHaveLength(3);
  });

  it('a new version that decides other things than production is said at registration, with the policy set that decides like production', async () => {
    // Production (version 1) acts or not at a threshold; this one has three bands.
    const r = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--bands', 'review=0.3,block=0.7', '--register', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const production = (await runCli(['models', 'hotel', '--json'], env)).json();
    expect(production.aliases.production).toBe(1);
    const v = r.json().registered.version;
    expect(r.stderr).toMatch(
      new RegExp(
        `^warning: version ${v} decides allow, review, block and production \\(version 1\\) none, act: a canary of it would answer its share of clients with decisions production never gives; a version of it that decides like production: modelgate policy set --model hotel --version ${v} --policy threshold=0\\.\\d+:act:none$`,
        'm',
      ),
    );
    // The command it names does that: the new version decides as production does, and is not warned about.
    const flag = /--policy (threshold=\S+)$/m.exec(r.stderr)![1];
    const set = await runCli(['policy', 'set', '--model', 'hotel', '--version', String(v), '--policy', flag, '--json'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(set.json().policy).toMatchObject({ type: 'threshold', above: 'act', below: 'none' });
  });

  it('train --register --promote that changes what production decides says so, as promote does, and lists it in --json', async () => {
    const r = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--bands', 'review=0.3,block=0.7', '--register', '--promote', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const v = r.json().registered.version;
    const before = (await runCli(['models', 'hotel', '--json'], env)).json().alias_history[1].version;
    const said = `production of hotel now decides allow, review, block (version ${v}) where version ${before} decided none, act: its clients get decisions they were never given; if that was not meant, roll back (modelgate rollback --model hotel)`;
    expect(r.stderr).toContain(`warning: ${said}`);
    expect(r.json().warnings).toContain(said);
    expect(r.json().promoted).toBe(true);
    // A running canary keeps production where it is: the trained version is registered, and the error says so.
    expect((await runCli(['canary', 'start', '--model', 'hotel', '--version', '1', '--percent', '10'], env)).code).toBe(0);
    const blocked = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '20', '--register', '--promote'], env);
    expect(blocked.code).not.toBe(0);
    const registered = (await runCli(['models', 'hotel', '--json'], env)).json();
    const newest = Math.max(...registered.versions.map((x: { version: number }) => x.version));
    expect(blocked.stderr).toContain(`error: hotel version ${newest} is registered, but not production: cannot promote version ${newest} to production: a canary of hotel is running`);
    expect(blocked.stderr).toContain(`The promotion alone, when ready: modelgate promote --model hotel --version ${newest}`);
    expect(registered.aliases.production).toBe(v);
    expect((await runCli(['canary', 'stop', '--model', 'hotel'], env)).code).toBe(0);
  });
});

describe('costs under which acting never pays', () => {
  it('train and policy set choose a policy that decides none at every score, even a score of exactly 1, and say to check the costs', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const csv = path.join(dir, 'd.csv');
    // y follows x1 closely: a logistic regression's logit passes 17 far out, where float32 rounds the sigmoid to 1.
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const lines = ['x1,x2,y'];
    for (let i = 0; i < 1200; i++) {
      const x1 = rand() * 4 - 2;
      lines.push(`${x1.toFixed(4)},${rand().toFixed(4)},${rand() < 1 / (1 + Math.exp(-4 * x1)) ? 1 : 0}`);
    }
    writeFileSync(csv, `${lines.join('\n')}\n`);
    // Acting on a positive is worth tp − fn = −1 and on a negative fp − tn = −5: never acting is best.
    const costs = 'tp=-1,fp=-5,fn=0,tn=0';
    const r = await runCli(['train', '--data', csv, '--target', 'y', '--model', 'never', '--algo', 'logreg', '--cost', costs, '--register', '--promote', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const said = `acting paid on none of the rows with costs ${costs}, so the policy decides none at every score; acting on a positive row is worth tp − fn and on a negative one fp − tn: check the signs in --cost`;
    expect(r.json().policy).toEqual({ type: 'threshold', threshold: 1, above: 'none', below: 'none' });
    expect(r.json().warnings).toContain(said);
    expect(r.json().metrics.action_rate).toBe(0);
    expect(r.stderr).toContain(`warning: ${said}`);
    expect((await runCli(['train', '--data', csv, '--target', 'y', '--model', 'never', '--algo', 'logreg', '--cost', costs], env)).stdout).toMatch(
      /^policy: none for every score; action rate 0\.0000/m,
    );

    const s = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      for (const x1 of [0, 2, 40]) {
        const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: { model: 'never', payload: { x1, x2: 0.5 } } });
        expect(res.statusCode, res.body).toBe(200);
        // At x1 = 40 the logit is far above 17: float32 gives exactly 1, which a threshold of 1 would act on.
        if (x1 === 40) expect(res.json().score).toBe(1);
        expect(res.json().decision).toBe('none');
      }
    } finally {
      await s.stop();
    }
    // policy set --cost on labelled rows chooses the same, with the same warning.
    const set = await runCli(['policy', 'set', '--model', 'never', '--version', '1', '--cost', costs, '--data', csv, '--target', 'y', '--json'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(set.json()).toMatchObject({ policy: { type: 'threshold', above: 'none', below: 'none' }, warnings: expect.arrayContaining([said]) });
  });
});

describe('missing categories: train, serve and evaluate agree', () => {
  it('the trainer records what a missing category becomes; serving maps null and absent to it; evaluate skips nothing', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const cat = Object.keys(data.categorical)[0];
    const cols = [...Object.keys(data.numeric), ...Object.keys(data.categorical)];
    const lines = [[...cols, 'is_canceled'].join(',')];
    for (let i = 0; i < 2000; i++) {
      const p = rowPayload(data, i);
      lines.push([...cols.map((c) => (c === cat && i % 10 === 3 ? '' : p[c] === null ? 'NA' : String(p[c]))), data.label[i] ? 'yes' : 'no'].join(','));
    }
    const csv = path.join(dir, 'gaps.csv');
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const trained = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'gaps', '--algo', 'logreg', '--register', '--promote', '--json'], env);
    expect(trained.code, trained.stderr).toBe(0);
    // Its progress in its own steps (Newton's), as the summary counts them, not boosting rounds.
    expect(trained.stderr).toMatch(/^ {2}Newton step 1\/50 {2}train loss 0\.6931$/m);
    expect(trained.stderr).not.toMatch(/round \d/);
    const evaluated = await runCli(['evaluate', '--model', 'gaps', '--data', csv, '--target', 'is_canceled', '--json'], env);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.json()).toMatchObject({ data: { skipped: 0 }, candidate: { rows: 2000 } });

    const v = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      expect((await v.ctx.registry.getVersion('gaps', 1)).contract.missing_category).toBe('');
      const infer = async (payload: Record<string, unknown>) => {
        const r = await v.app.inject({ method: 'POST', url: '/v1/infer', headers: v.auth, payload: { model: 'gaps', payload } });
        expect(r.statusCode, r.body).toBe(200);
        return r.json().score as number;
      };
      const row = rowPayload(data, 3);
      const asTrained = await infer({ ...row, [cat]: '' });
      expect(await infer({ ...row, [cat]: null })).toBe(asTrained);
      const { [cat]: _dropped, ...absent } = row;
      expect(await infer(absent)).toBe(asTrained);
    } finally {
      await v.stop();
    }
  }, 240_000);

  it('an imported pipeline: a missing category is refused with how to fix it; evaluate never skips silently; --missing-category maps it', async () => {
    // Three rows lose their PaymentMethod, as exports from a CRM do.
    const { env, model, csv } = telcoWorkspace((c, i) => c === 'PaymentMethod' && i < 3);
    expect((await runCli(['register', '--model', 'telco', '--onnx', model], env)).code).toBe(0);
    const refused = await runCli(['evaluate', '--model', 'telco', '--version', '1', '--data', csv, '--target', 'Churn'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /holdout\.csv with telco version 1: 3 of 200 rows cannot be scored \(3 rows: row\.PaymentMethod: null, and this model version does not say what a missing category becomes.*--missing-category.*--allow-skipped/,
    );
    const allowed = await runCli(['evaluate', '--model', 'telco', '--version', '1', '--data', csv, '--target', 'Churn', '--allow-skipped', '--json'], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json()).toMatchObject({ data: { skipped: 3 }, candidate: { rows: 197 } });
    expect(allowed.stderr).toMatch(/3 rows skipped \(--allow-skipped\)/);
    const noRef = await runCli(['register', '--model', 'telco', '--onnx', model, '--reference', csv, '--target', 'Churn'], env);
    expect(noRef.code).toBe(2);
    expect(noRef.stderr).toMatch(/--reference .*3 of 200 rows cannot be scored.*nothing was registered/);

    const mapped = await runCli(['register', '--model', 'telco', '--onnx', model, '--missing-category', 'missing', '--reference', csv, '--target', 'Churn', '--json'], env);
    expect(mapped.code, mapped.stderr).toBe(0);
    expect(mapped.json()).toMatchObject({ version: 2, contract: { missing_category: 'missing' }, reference: { rows: 200, skipped: 0 } });
    const all = await runCli(['evaluate', '--model', 'telco', '--version', '2', '--data', csv, '--target', 'Churn', '--json'], env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.json()).toMatchObject({ data: { skipped: 0 }, candidate: { rows: 200 } });
    // The reference was labelled by Churn: evaluate reads it without --target, and says so.
    const known = await runCli(['evaluate', '--model', 'telco', '--version', '2', '--data', csv], env);
    expect(known.code, known.stderr).toBe(0);
    expect(known.stderr).toContain("target: Churn (the column register --reference labelled version 2's reference data by; --target names another)");
    expect((await runCli(['evaluate', '--model', 'telco', '--version', '2', '--data', csv, '--json'], env)).json().candidate).toEqual(all.json().candidate);
    // Profiled without a target: nothing to read, and the message says so.
    expect((await runCli(['register', '--model', 'telco', '--onnx', model, '--missing-category', 'missing', '--reference', csv, '--policy', 'threshold=0.4'], env)).code).toBe(0);
    const unlabelled = await runCli(['evaluate', '--model', 'telco', '--version', '3', '--data', csv], env);
    expect(unlabelled.code).toBe(2);
    expect(unlabelled.stderr).toContain('(telco version 3 was registered from an ONNX file, and its reference profile names no target column)');
  }, 240_000);
});

describe('modelgate evaluate', () => {
  it('scores an imported scikit-learn pipeline through the serving code: AUC as predict_proba gives it, baseline side by side, gates', async () => {
    const { aucByPairs } = await import('./helpers/independent.js');
    const { dir, env, model, csv, expected } = telcoWorkspace();
    for (let i = 0; i < 2; i++) expect((await runCli(['register', '--model', 'telco', '--onnx', model, '--policy', 'threshold=0.5'], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'telco', '--version', '1'], env)).code).toBe(0);

    const out = path.join(dir, 'reports', 'metrics', 'latest_metrics.json');
    const r = await runCli(['evaluate', '--model', 'telco', '--version', '2', '--data', csv, '--target', 'Churn', '--baseline', 'production', '--max-auc-drop', '0', '--out', out, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const report = r.json();
    expect(report).toMatchObject({ candidate: { version: 2, rows: expected.rows.length }, baseline: { version: 1 }, gates: [{ gate: 'max_auc_drop', passed: true }] });
    expect(report.candidate.roc_auc).toBeCloseTo(aucByPairs(expected.proba, expected.labels), 3);
    const c = report.candidate.confusion;
    const actedByPython = expected.proba.filter((p) => p >= 0.5).length;
    expect(c.tp + c.fp).toBe(actedByPython);
    expect(report.candidate.calibration).toHaveLength(10);
    expect(JSON.parse((await import('node:fs')).readFileSync(out, 'utf8'))).toEqual(report);

    const gate = await runCli(['evaluate', '--model', 'telco', '--data', csv, '--target', 'Churn', '--min-auc', '0.99'], env);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toMatch(/gate min_auc 0\.99 failed/);
    expect(gate.stdout).toMatch(/ROC AUC/);
    const noTarget = await runCli(['evaluate', '--model', 'telco', '--data', csv, '--target', 'gender'], env);
    expect(noTarget.code).toBe(2);
    // An imported version names no training target: --target is asked for, saying why.
    const unnamed = await runCli(['evaluate', '--model', 'telco', '--data', csv], env);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toContain(
      'error: evaluate compares scores with real outcomes: give --target COLUMN, the column of the file holding the real outcome (telco version 1 was registered from an ONNX file, so it names no training target)',
    );
  });
});

describe('decision policies as versions', () => {
  it('policy set: a new version sharing the ONNX artifact, with a threshold, bands, or the threshold that maximises profit on labelled rows', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const csv = path.join(dir, 'bookings.csv');
    writeFileSync(csv, csvOf(1500));
    const t = await runCli(['train', '--data', csv, '--target', 'is_canceled', '--model', 'hotel', '--algo', 'logreg', '--bands', 'review=0.3,block=0.7', '--register', '--promote', '--json'], env);
    expect(t.code, t.stderr).toBe(0);
    expect(t.json().policy).toEqual({
      type: 'bands',
      bands: [
        { decision: 'allow', below: 0.3 },
        { decision: 'review', below: 0.7 },
        { decision: 'block', below: null },
      ],
    });

    const th = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--threshold', '0.42', '--json'], env);
    expect(th.code, th.stderr).toBe(0);
    expect(th.json()).toMatchObject({ version: 2, from_version: 1, policy: { type: 'threshold', threshold: 0.42 }, metrics_left_out: ['f1', 'precision', 'recall', 'action_rate'] });
    // Version 2 decides that way already: nothing new, and the version to promote named.
    const same = await runCli(['policy', 'set', '--model', 'hotel', '--version', '2', '--threshold', '0.42'], env);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe('hotel version 2 already has this policy (act when score >= 0.42, else none); nothing created\nnext: modelgate promote --model hotel --version 2\n');
    const cost = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--cost', 'tp=0,fp=-20,fn=-100,tn=0', '--data', csv, '--target', 'is_canceled', '--json'], env);
    expect(cost.code, cost.stderr).toBe(0);
    expect(cost.json()).toMatchObject({ version: 3, rows: 1500, policy: { type: 'threshold' } });
    // Chosen on the rows version 1 was trained on: said, since its scores there are surer than on traffic.
    const warning = `${csv} is the file version 1 was trained on: 1,125 of its 1,500 rows trained it, so it is surer of those rows than of new ones, and a threshold chosen on them can do worse than the profit it promises; choose on rows it never saw`;
    expect(cost.json().warnings).toEqual([warning]);
    expect(cost.stderr).toContain(`warning: ${warning}`);
    // Those rows would flatter the new policy's F1 and the rest: left out, not measured there.
    expect(cost.json().metrics_measured).toBeUndefined();
    expect(cost.json().metrics_left_out).toEqual(['f1', 'precision', 'recall', 'action_rate']);
    // Rows version 1 never saw (1,500 to 2,999 of the same draw): the new policy's figures are measured on them.
    const fresh = path.join(dir, 'fresh.csv');
    const all = csvOf(3000).trimEnd().split('\n');
    writeFileSync(fresh, `${[all[0], ...all.slice(1501)].join('\n')}\n`);
    const measured = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--cost', 'tp=0,fp=-20,fn=-100,tn=0', '--data', fresh, '--json'], env);
    expect(measured.code, measured.stderr).toBe(0);
    expect(measured.json()).toMatchObject({ version: 4, rows: 1500, metrics_left_out: ['action_rate'] });
    expect(measured.json().warnings).toBeUndefined();
    // A longer export holding version 1's training file (rows 0 to 2,999): another file, the same flattery, said from the run's sample of its rows.
    const longer = path.join(dir, 'longer.csv');
    writeFileSync(longer, `${all.join('\n')}\n`);
    const held = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--cost', 'tp=0,fp=-20,fn=-100,tn=0', '--data', longer, '--json'], env);
    expect(held.code, held.stderr).toBe(0);
    expect(held.json().warnings).toEqual([
      expect.stringMatching(
        /^about 3\d % of these rows are rows version 1 was trained on \(estimated on [\d,]+ of them, against a sample of its training rows kept with its run\), so it is surer of those rows than of new ones/,
      ),
    ]);
    expect(held.json().metrics_measured).toBeUndefined();

    const s = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      const versions = await Promise.all([1, 2, 3].map((v) => s.ctx.registry.getVersion('hotel', v)));
      // One artifact, three policies; the reference profile and training record come along.
      expect(new Set(versions.map((v) => v.onnx_sha256)).size).toBe(1);
      // Less what the old policy measured: the share of rows it acted on, and the figures at it.
      const { action_rate: acted, metrics: refMetrics, ...profile } = versions[0].manifest.reference as ReferenceProfile;
      expect(acted).toBeGreaterThan(0);
      expect(versions[2].manifest.reference).toEqual({
        ...profile,
        action_rate: null,
        metrics: { roc_auc: refMetrics!.roc_auc, pr_auc: refMetrics!.pr_auc, log_loss: refMetrics!.log_loss, brier: refMetrics!.brier, positive_rate: refMetrics!.positive_rate },
      });
      expect(versions[2].manifest.metrics).toEqual((versions[2].manifest.reference as ReferenceProfile).metrics);
      expect(versions[1].manifest.training).toMatchObject({ run_id: versions[0].manifest.training!.run_id, policy_from_version: 1 });
      // The cost-chosen threshold is the best one on those rows (checked by brute force over candidate thresholds).
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 3, actor: 't' });
      await s.pool.refresh(true);
      /** Rows from..from+1,499 scored by production through the batch route, 750 a request. */
      const scoreRows = async (from: number, version: number) => {
        const out = { scores: [] as number[], ids: [] as string[] };
        for (const at of [from, from + 750]) {
          const instances = Array.from({ length: 750 }, (_, k) => rowPayload(data, at + k));
          const res = await s.app.inject({ method: 'POST', url: '/v1/models/hotel/predict', headers: s.auth, payload: { instances } });
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json().version).toBe(version);
          for (const p of res.json().predictions as { score: number; prediction_id: string }[]) {
            out.scores.push(p.score);
            out.ids.push(p.prediction_id);
          }
        }
        return out;
      };
      const { scores, ids } = await scoreRows(0, 3);
      const profit = (t: number) => scores.reduce((a, sc, i) => a + (sc >= t ? (data.label[i] ? 0 : -20) : data.label[i] ? -100 : 0), 0);
      const chosen = (versions[2].policy as { threshold: number }).threshold;
      for (const other of [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, ...scores.slice(0, 50)]) expect(profit(chosen)).toBeGreaterThanOrEqual(profit(other) - 1e-9);
      // The profit it promises is not what those very rows realise at it: each half at the other half's threshold.
      const labels = Array.from({ length: 1500 }, (_, i) => data.label[i]);
      const fitted = crossFitted(scores, labels, { tp: 0, fp: -20, fn: -100, tn: 0 }).profit_per_row!;
      expect(cost.json().expected_profit_per_row).toBeCloseTo(fitted, 9);
      expect(cost.json().expected_profit).toBeCloseTo(fitted * 1500, 6);
      expect(fitted).toBeLessThan(profit(chosen) / 1500);
      const half = crossFitted(scores, labels, { tp: 0, fp: -20, fn: -100, tn: 0 });
      expect(cost.stderr).toContain(
        `expected profit ${fitted.toFixed(2)} a row on 1500 rows; F1 ${half.f1.toFixed(4)}, precision ${half.precision.toFixed(4)}, recall ${half.recall.toFixed(4)} (each half decided at the threshold chosen on the other half)`,
      );
      // The costs the threshold was chosen for become the version's: its realised profit is counted with them.
      expect(versions[2].manifest.training).toMatchObject({ params: { cost_matrix: { tp: 0, fp: -20, fn: -100, tn: 0 }, threshold_objective: 'profit' }, policy_by_hand: false });
      expect((versions[2].manifest.training as { params: Record<string, unknown> }).params.policy).toBeUndefined();
      expect(versions[1].manifest.training).toMatchObject({ policy_by_hand: true });
      await s.audit.flush();
      await s.ctx.feedback.submit(
        ids.map((prediction_id, i) => ({ prediction_id, label: data.label[i] })),
        null,
      );
      const report = (await s.ctx.monitoring.run('hotel', 3_600_000)).report as { version: number; performance: { realized_profit: number | null } };
      expect(report.version).toBe(3);
      expect(report.performance.realized_profit).toBe(profit(chosen));
      // Rolling back the policy is rolling back the alias.
      await s.ctx.registry.rollback({ model: 'hotel', actor: 't' });
      expect((await s.ctx.registry.getModel('hotel')).aliases.production).toBe(1);

      // Version 4's policy was chosen on rows version 1 never saw: its F1, precision, recall and
      // profit are those rows', cross-fitted, and monitoring compares live outcomes with them.
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 4, actor: 't' });
      await s.pool.refresh(true);
      const { scores: freshScores, ids: freshIds } = await scoreRows(1500, 4);
      const freshLabels = Array.from({ length: 1500 }, (_, i) => data.label[1500 + i]);
      const figures = crossFitted(freshScores, freshLabels, { tp: 0, fp: -20, fn: -100, tn: 0 });
      const v4 = await s.ctx.registry.getVersion('hotel', 4);
      const expected = { f1: figures.f1, precision: figures.precision, recall: figures.recall, expected_profit_per_row: figures.profit_per_row };
      for (const [k, v] of Object.entries(expected)) {
        expect(measured.json().metrics_measured[k]).toBeCloseTo(v!, 9);
        expect(v4.manifest.metrics![k]).toBeCloseTo(v!, 9);
        expect((v4.manifest.reference as ReferenceProfile).metrics![k]).toBeCloseTo(v!, 9);
      }
      // Not a degenerate case: rows acted on, some of them wrongly.
      expect(figures.precision).toBeGreaterThan(0);
      expect(figures.precision).toBeLessThan(1);
      expect(v4.manifest.metrics!.roc_auc).toBe(versions[0].manifest.metrics!.roc_auc);
      expect(v4.manifest.metrics!.action_rate).toBeUndefined();
      expect(v4.manifest.training).toMatchObject({
        policy_metrics: {
          file: fresh,
          rows: 1500,
          sha256: createHash('sha256').update(readFileSync(fresh)).digest('hex'),
          measured: 'cross_fitted',
          metrics: ['f1', 'precision', 'recall', 'expected_profit_per_row'],
        },
        metrics_left_out: ['action_rate'],
      });
      await s.audit.flush();
      await s.ctx.feedback.submit(
        freshIds.map((prediction_id, i) => ({ prediction_id, label: freshLabels[i] })),
        null,
      );
      const watched = (await s.ctx.monitoring.run('hotel', 3_600_000)).report as { version: number; performance: { training: Record<string, number> } };
      expect(watched.version).toBe(4);
      expect(watched.performance.training.f1).toBeCloseTo(figures.f1, 9);
    } finally {
      await s.stop();
    }
    const bad = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--bands', 'review=0.7,block=0.7'], env);
    expect(bad.code).toBe(2);
    expect((await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--cost', 'tp=1,fn=-1'], env)).stderr).toMatch(
      /give --data CSV \(and --target COLUMN, unless it is the column the version was trained to predict\)/,
    );
    // Rows whose categories the version does not know are scored as unseen ones, and said.
    expect(cost.stderr).not.toMatch(/categories this version does not know/);
    const typos = path.join(dir, 'typos.csv');
    writeFileSync(typos, readFileSync(csv, 'utf8').replaceAll(',City Hotel,', ',city hotel,'));
    // Without --target: the column version 1 was trained to predict.
    const typo = await runCli(['policy', 'set', '--model', 'hotel', '--version', '1', '--cost', 'tp=0,fp=-20,fn=-100,tn=0', '--data', typos], env);
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stderr).toContain('target: is_canceled (the column version 1 was trained to predict; --target names another)\n');
    // Another file by its bytes, but the rows not edited are training rows still: found by the run's sample of them, and not measured on.
    expect(typo.stderr).toMatch(
      /warning: about \d+ % of these rows are rows version 1 was trained on \(estimated on [\d,]+ of them, against a sample of its training rows kept with its run\), so it is surer/,
    );
    expect(typo.stdout).not.toContain(`are this policy's on ${typos}`);
    expect(typo.stderr).toMatch(/warning: categories this version does not know, scored as unseen ones: hotel in \d+ rows \("city hotel" \d+, did you mean "City Hotel"\?\)/);
    // Each version's description says the policy it was given, and a variant of a variant keeps the model's own.
    const again = await runCli(['policy', 'set', '--model', 'hotel', '--version', '2', '--threshold', '0.3'], env);
    expect(again.code, again.stderr).toBe(0);
    // Bands measured F1 and the rest at their review and block rows: not these versions' figures, and said so.
    expect(again.stdout).toContain(
      "its held-out metrics leave out f1, precision, recall, action_rate: measured at the training policy, they are not this one's (monitoring compares ROC AUC and the others)",
    );
    const described = (await runCli(['models', 'hotel', '--json'], env)).json().versions as { version: number; description: string }[];
    expect(described.map((v) => v.description)).toEqual([
      `logreg trained on ${csv}`,
      `logreg trained on ${csv}; policy set from version 1: act when score >= 0.42, else none`,
      expect.stringMatching(new RegExp(`^logreg trained on ${csv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; policy set from version 1: act when score >= 0\\.\\d+, else none$`)),
      expect.stringMatching(/; policy set from version 1: act when score >= 0\.\d+, else none$/),
      expect.stringMatching(/; policy set from version 1: act when score >= 0\.\d+, else none$/),
      expect.stringMatching(/; policy set from version 1: act when score >= 0\.\d+, else none$/),
      `logreg trained on ${csv}; policy set from version 2: act when score >= 0.3, else none`,
    ]);
  });
});

describe('a chosen threshold that acts on every held-out row', () => {
  it('is said: most rows positive and nothing learnable, F1 is highest acting on all; a learnable task with a rarer class is not', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    let seed = 11;
    const rand = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const write = (name: string, label: (x1: number) => number) => {
      const lines = ['x1,x2,y'];
      for (let i = 0; i < 1200; i++) {
        const x1 = rand() * 4 - 2;
        lines.push(`${x1.toFixed(4)},${rand().toFixed(4)},${label(x1)}`);
      }
      const file = path.join(dir, name);
      writeFileSync(file, `${lines.join('\n')}\n`);
      return file;
    };
    // Three rows in four positive, whatever x1 and x2 say.
    const noise = write('noise.csv', () => (rand() < 0.75 ? 1 : 0));
    const r = await runCli(['train', '--data', noise, '--target', 'y', '--model', 'all', '--algo', 'logreg', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json() as { metrics: { action_rate: number; positive_rate: number }; warnings: string[] };
    expect(out.metrics.action_rate).toBe(1);
    const said = out.warnings.find((w) => w.startsWith('the policy acts on every row'));
    expect(said).toMatch(
      /^the policy acts on every row its threshold was chosen on, so its decision does not depend on the score: (\d+) % of them are positive, and F1 is highest acting on all \(recall 1\); give --cost/,
    );
    expect(Number(/: (\d+) % of them/.exec(said!)![1])).toBe(Math.round(out.metrics.positive_rate * 100));
    // y follows x1: a threshold inside the scores, and nothing said.
    const learnable = write('learnable.csv', (x1) => (rand() < 1 / (1 + Math.exp(-4 * x1 + 2)) ? 1 : 0));
    const ok = await runCli(['train', '--data', learnable, '--target', 'y', '--model', 'some', '--algo', 'logreg', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect((ok.json() as { metrics: { action_rate: number } }).metrics.action_rate).toBeLessThan(1);
    expect((ok.json() as { warnings: string[] }).warnings.join('\n')).not.toMatch(/acts on every row/);
  }, 120_000);
});
