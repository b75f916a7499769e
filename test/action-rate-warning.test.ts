import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';

/**
 * Two versions that decide the same things, one far more often: the warning compares the share
 * of its reference rows each version's policy acts on, checked here against the served scores.
 */
describe('a version that acts far more often than production', () => {
  it('is said when registered and when promoted, with each rate as the served scores give it; a close one is not', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const demo = demoModel();
    const onnx = path.join(dir, 'hotel.onnx');
    writeFileSync(onnx, demo.onnx);
    const d = demo.holdout.data;
    const cols = [...Object.keys(d.numeric), ...Object.keys(d.categorical)];
    const lines = [cols.join(',')];
    for (let i = 0; i < d.rows; i++) {
      const p = rowPayload(d, i);
      lines.push(cols.map((c) => (p[c] === null ? '' : String(p[c]))).join(','));
    }
    const csv = path.join(dir, 'reference.csv');
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const register = (threshold: string) => runCli(['register', '--model', 'hotel', '--onnx', onnx, '--reference', csv, '--policy', `threshold=${threshold}`], env);

    expect((await register('0.6')).code).toBe(0);
    expect((await runCli(['promote', '--model', 'hotel', '--version', '1'], env)).code).toBe(0);
    const v2 = await register('0.2');
    expect(v2.code, v2.stderr).toBe(0);

    // What the served scores give, from batch scoring through the serving code.
    const out = path.join(dir, 'scored.csv');
    expect((await runCli(['score', '--model', 'hotel', '--version', '1', '--data', csv, '--out', out], env)).code).toBe(0);
    const scores = (parse(readFileSync(out, 'utf8'), { columns: true }) as { score: string }[]).map((r) => Number(r.score));
    const share = (t: number) => scores.filter((s) => s >= t).length / scores.length;
    const [high, low] = [share(0.2), share(0.6)];
    expect(high).toBeGreaterThan(2 * low);

    const said =
      /^warning: version 2 decides act on (\d+\.\d) % of the rows it was profiled on, production \(version 1\) on (\d+\.\d) % of its own: on traffic like those rows it would act about (\d+\.\d) × as often; check its policy before a canary/m.exec(
        v2.stderr,
      );
    expect(said, v2.stderr).not.toBeNull();
    expect(Number(said![1])).toBeCloseTo(high * 100, 1);
    expect(Number(said![2])).toBeCloseTo(low * 100, 1);
    expect(Number(said![3])).toBeCloseTo(high / low, 1);

    const promoted = await runCli(['promote', '--model', 'hotel', '--version', '2'], env);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stderr).toMatch(/warning: production of hotel is now version 2, and version 2 decides act on \d+\.\d % .*; if that was not meant, roll back \(modelgate rollback --model hotel\)/);

    // A threshold close to production's: the rates differ little, nothing is said.
    const v3 = await register('0.22');
    expect(v3.code, v3.stderr).toBe(0);
    expect(v3.stderr).not.toMatch(/rows it was profiled on/);
  }, 120_000);
});
