import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { demoModel, kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * train --positive: a binary target of two words. The same bookings written once with 0/1 and
 * once with words must train the same model (the 0/1 run is the independent check), and the
 * version must take the words back where labels come in (evaluate, retrain).
 */
describe('train --positive on a target of two words', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const data = generateHotelBookings(3000, 41);
  const cols = [...Object.keys(data.numeric), ...Object.keys(data.categorical)];
  const write = (name: string, label: (y: number, i: number) => string) => {
    const file = path.join(dir, name);
    const rows = Array.from({ length: data.rows }, (_, i) => {
      const p = rowPayload(data, i);
      return [...cols.map((c) => p[c] ?? ''), label(data.label[i], i)];
    });
    writeFileSync(file, stringify([[...cols, 'outcome'], ...rows]));
    return file;
  };
  // Row 7 has no label ("?" is a missing value): dropped in both files alike.
  const numbers = write('numbers.csv', (y, i) => (i === 7 ? '?' : String(y)));
  const words = write('words.csv', (y, i) => (i === 7 ? '?' : y ? 'Cancelled' : 'Kept'));
  const train = (file: string, model: string, ...extra: string[]) => runCli(['train', '--data', file, '--target', 'outcome', '--model', model, '--algo', 'logreg', '--json', ...extra], env);

  it('is refused without --positive, naming both values; trains the same model as 0/1 with it; evaluate and retrain take the words', async () => {
    const refused = await train(words, 'stays');
    expect(refused.code).toBe(2);
    expect(refused.json().error.message).toMatch(
      /--target outcome: its two values "(Kept|Cancelled)" and "(Kept|Cancelled)" are not 0\/1, yes\/no or true\/false; say which one the score is the probability of with --positive/,
    );

    const byNumbers = await train(numbers, 'stays-01', '--register');
    const byWords = await train(words, 'stays', '--positive', 'Cancelled', '--register');
    expect(byNumbers.code, byNumbers.stderr).toBe(0);
    expect(byWords.code, byWords.stderr).toBe(0);
    expect(byWords.json().metrics.roc_auc).toBeCloseTo(byNumbers.json().metrics.roc_auc, 12);
    expect(byWords.json().run.class_labels).toEqual(['Kept', 'Cancelled']);
    const version = (await runCli(['models', 'stays', '--json'], env)).json().versions[0];
    expect(version.positive_class).toBe('Cancelled');

    // The words as a target of evaluate: the same metrics as the 0/1 model on the 0/1 file.
    const evalWords = await runCli(['evaluate', '--model', 'stays', '--version', '1', '--data', words, '--target', 'outcome', '--allow-skipped', '--json'], env);
    const evalNumbers = await runCli(['evaluate', '--model', 'stays-01', '--version', '1', '--data', numbers, '--target', 'outcome', '--allow-skipped', '--json'], env);
    expect(evalWords.code, evalWords.stdout + evalWords.stderr).toBe(0);
    expect(evalWords.json().candidate.roc_auc).toBeCloseTo(evalNumbers.json().candidate.roc_auc, 12);
    expect(evalWords.json().candidate.rows).toBe(2999);

    // A retrain reads the words with the same positive class, and the new version names it too.
    expect((await runCli(['promote', '--model', 'stays', '--version', '1'], env)).code).toBe(0);
    const retrained = await runCli(['retrain', '--model', 'stays', '--data', words, '--same-data', '--json'], env);
    expect(retrained.code, retrained.stderr).toBe(0);
    const v2 = (await runCli(['models', 'stays', '--json'], env)).json().versions.find((v: { version: number }) => v.version === 2);
    expect(v2.positive_class).toBe('Cancelled');
  });

  it('refuses a --positive no row has, a target of three values, and another task', async () => {
    const none = await train(words, 'x', '--positive', 'Canceled');
    expect(none.code).toBe(2);
    expect(none.json().error.message).toMatch(/--positive "Canceled": no row of outcome has that value; its values are "(Kept|Cancelled)", "(Kept|Cancelled)"/);
    const three = write('three.csv', (y, i) => (i % 50 === 0 ? 'Unknown' : y ? 'Cancelled' : 'Kept'));
    const many = await train(three, 'x', '--positive', 'Cancelled');
    expect(many.code).toBe(2);
    expect(many.json().error.message).toMatch(/--positive: outcome has 3 distinct values .*a binary target has two/);
    const multi = await train(words, 'x', '--positive', 'Cancelled', '--task', 'multiclass');
    expect(multi.code).toBe(2);
    expect(multi.json().error.message).toMatch(/--positive names the positive class of a binary target; it does not go with --task multiclass/);
  });
});

/** A binary graph that names no classes, registered with class_labels (what train --positive writes). */
describe('class_labels in a manifest', () => {
  let s: TestServer;
  const demo = demoModel();
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, manifest: { class_labels: ['Kept', 'Cancelled'] }, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  });
  afterAll(() => s?.stop());
  const post = async (url: string, body: unknown) => {
    const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: res.json() };
  };

  it('names the positive class, and feedback takes the two words as well as 0/1', async () => {
    expect((await post('/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, 0) })).status).toBe(200);
    const version = (await s.app.inject({ method: 'GET', url: '/v1/models/hotel/versions/1', headers: s.auth })).json();
    expect(version.positive_class).toBe('Cancelled');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await post('/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, i + 1) })).body.prediction_id);
    const r = await post('/v1/feedback', {
      items: [
        { prediction_id: ids[0], label: 'Cancelled' },
        { prediction_id: ids[1], label: 'Kept' },
        { prediction_id: ids[2], label: 1 },
        { prediction_id: ids[3], label: 'Maybe' },
      ],
    });
    expect(r.body).toMatchObject({ stored: 3, failed: 1 });
    expect(r.body.results[3].error.message).toMatch(/expected 0, 1, true, false, yes or no, or its classes "Kept", "Cancelled" \("Cancelled" is 1\)/);
    expect((await s.ctx.feedback.get(ids[0]))?.label).toBe(1);
    expect((await s.ctx.feedback.get(ids[1]))?.label).toBe(0);
    expect((await s.ctx.feedback.get(ids[2]))?.label).toBe(1);
  });

  it('is refused for a graph that names other classes, and for a model of more than two', async () => {
    const geo = kindFixture('bank_geography');
    await expect(s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, manifest: { class_labels: ['no', 'yes'] }, actor: 't' })).rejects.toThrow(
      /class_labels \["no","yes"\]: the graph names its classes \["\?","France","Germany","Spain"\]; leave class_labels out/,
    );
    // A binary graph that names no classes, read as multiclass: two labels cannot name it.
    await expect(s.ctx.registry.register({ model: 'hotel-mc', onnx: demo.onnx, task: 'multiclass', manifest: { class_labels: ['Kept', 'Cancelled'] }, actor: 't' })).rejects.toThrow(
      /class_labels name a binary model's two classes; output probabilities has 2 columns and the task is multiclass/,
    );
  });
});
