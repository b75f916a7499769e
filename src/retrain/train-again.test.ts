import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../inference/index.js';
import { ingestAndTrain, type TrainJob } from './train-again.js';

describe('a retrain splits as its version was split', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'train-again-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // 400 distinct rows, then rows 0, 4, 8, … (the ones an index split holds out) once more.
  const lines = Array.from({ length: 400 }, (_, i) => `${i * 0.5},${['a', 'b', 'c'][i % 3]},${i % 7 < 3 ? 1 : 0}`);
  const all = [...lines, ...lines.filter((_, i) => i % 4 === 0).slice(0, 80)];
  const file = path.join(dir, 'new.csv');
  writeFileSync(file, `x,c,y\n${all.join('\n')}\n`);
  const job = (groupCopies: boolean): TrainJob => ({
    file,
    data: file,
    model: 'm',
    fromVersion: 1,
    task: 'binary',
    policy: DEFAULT_POLICY,
    run: {
      algorithm: 'gbdt',
      target: 'y',
      params: { rounds: 5 },
      columns: [
        { name: 'x', role: 'numeric' },
        { name: 'c', role: 'categorical' },
      ],
      split: { kind: 'index', test_fraction: 0.25, ...(groupCopies ? { group_copies: true } : {}) },
    },
  });

  it('without group_copies: every fourth row held out, those with a copy in training counted', async () => {
    const said: string[] = [];
    const t = await ingestAndTrain(job(false), (m) => said.push(m));
    // By hand: 120 of the 480 rows held out; of the 100 originals held out, those whose copy (at 400 + k) is not: k % 4 != 0.
    expect(t.test.rows).toBe(120);
    const held = all.filter((_, i) => i % 4 === 0);
    const trained = new Set(all.filter((_, i) => i % 4 !== 0));
    expect(t.heldOutWithCopy).toBe(held.filter((l) => trained.has(l)).length);
    expect(t.heldOutWithCopy).toBe(60);
    expect(t.copies).toBe(80);
    expect(said).toContain('60 of the 120 held-out rows have an exact copy among the training rows');
  });

  it('with group_copies: copies go with the row they repeat, none held out beside its copy', async () => {
    const t = await ingestAndTrain(job(true), () => {});
    // Rows 0, 4, …, 316 are held out, and so are their 80 copies: 100 + 80.
    expect(t.test.rows).toBe(180);
    expect(t.heldOutWithCopy).toBe(0);
    expect(t.copies).toBe(80);
  });
});
