/**
 * npm run bench (fourth part): gradient-boosted trees, 200 rounds, depth 6, early stopping off,
 * on a 200,000-row synthetic CSV (10 numeric, 10 categorical columns): modelgate's trainer
 * (CSV ingest + fit) against scikit-learn's HistGradientBoostingClassifier (CSV read + fit,
 * same settings, native categoricals) when a python3 with scikit-learn is installed (Debian:
 * python3-sklearn), in the same run. Targets: ≤ 3× scikit-learn's wall time, peak RSS ≤ 1 GB.
 * Environment: BENCH_TRAIN_ROWS (default 200000), BENCH_PYTHON (default: /usr/bin/python3, then python3).
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { log, root } from './harness.js';
import { ingestCsv } from '../src/training/csv.js';
import { fitGbdt } from '../src/training/gbdt.js';
import { seededRandom } from '../src/training/random.js';

const rows = Number(process.env.BENCH_TRAIN_ROWS ?? 200_000);
const NUM = 10;
const CAT = 10;

async function writeCsv(file: string): Promise<void> {
  const rand = seededRandom(5);
  const out = createWriteStream(file);
  const cards = Array.from({ length: CAT }, (_, c) => 3 + c * 5); // 3 … 48 categories
  const catEffect = cards.map((k) => Array.from({ length: k }, () => (rand() - 0.5) * 1.5));
  out.write(`${[...Array.from({ length: NUM }, (_, j) => `n${j}`), ...Array.from({ length: CAT }, (_, j) => `c${j}`), 'y'].join(',')}\n`);
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const x = Array.from({ length: NUM }, () => rand() * 10 - 5);
    const cats = cards.map((k) => Math.floor(rand() ** 1.5 * k));
    let z = 0.8 * x[0] - 0.5 * x[1] + 0.3 * x[2] * x[3] * 0.2 + Math.sin(x[4]);
    cats.forEach((k, c) => (z += catEffect[c][k]));
    const y = rand() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    const num = x.map((v, j) => (j === 5 && rand() < 0.05 ? '' : v.toFixed(4)));
    buf += `${[...num, ...cats.map((k, c) => `c${c}_${k}`), y].join(',')}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.write(buf);
  out.end();
  await once(out, 'finish');
}

const SKLEARN = `
import csv, sys, time
import numpy as np
t0 = time.time()
with open(sys.argv[1], newline='') as f:
    r = csv.reader(f)
    header = next(r)
    data = list(r)
num = [i for i, h in enumerate(header) if h.startswith('n')]
cat = [i for i, h in enumerate(header) if h.startswith('c')]
X = np.empty((len(data), len(num) + len(cat)), dtype=np.float64)
for k, i in enumerate(num):
    X[:, k] = [float(row[i]) if row[i] != '' else np.nan for row in data]
for k, i in enumerate(cat):
    codes = {}
    X[:, len(num) + k] = [codes.setdefault(row[i], len(codes)) for row in data]
y = np.array([int(row[-1]) for row in data])
t1 = time.time()
from sklearn.ensemble import HistGradientBoostingClassifier
m = HistGradientBoostingClassifier(max_iter=200, max_depth=6, early_stopping=False, categorical_features=[len(num) + k for k in range(len(cat))])
m.fit(X, y)
t2 = time.time()
import resource
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {m.n_iter_}")
`;

function findPython(): string | undefined {
  for (const py of [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    if (spawnSync(py, ['-c', 'import sklearn, numpy'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-bench-train-'));
  const file = path.join(dir, 'train.csv');
  log(`[1/3] writing ${rows.toLocaleString('en')} rows (${NUM} numeric, ${CAT} categorical) to ${file}`);
  await writeCsv(file);

  log('[2/3] modelgate: ingest and 200 rounds of depth-6 trees, early stopping off');
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = Date.now();
  const { data } = await ingestCsv(file, { target: 'y' });
  const t1 = Date.now();
  const model = fitGbdt(data, { rounds: 200, maxDepth: 6, validationFraction: 0 }, (p) => p.round % 20 === 0 && log(`      round ${p.round}/200: train loss ${p.trainLoss.toFixed(4)}`));
  const t2 = Date.now();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const ours = { readSeconds: (t1 - t0) / 1000, fitSeconds: (t2 - t1) / 1000, peakRssMb: peak / 2 ** 20, rounds: model.rounds };

  const py = findPython();
  let theirs: { readSeconds: number; fitSeconds: number; peakRssMb: number; rounds: number } | undefined;
  if (py) {
    log(`[3/3] scikit-learn (${py}): the same CSV, HistGradientBoostingClassifier(max_iter=200, max_depth=6, early_stopping=False, native categoricals)`);
    const r = spawnSync(py, ['-c', SKLEARN, file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`scikit-learn run failed: ${r.stderr}`);
    const [read, fit, rss, iters] = r.stdout.trim().split(' ').map(Number);
    theirs = { readSeconds: read, fitSeconds: fit, peakRssMb: rss, rounds: iters };
  } else log('[3/3] no python3 with scikit-learn found (Debian: apt-get install python3-sklearn); printing modelgate alone');

  const total = (x: { readSeconds: number; fitSeconds: number }) => x.readSeconds + x.fitSeconds;
  const lines = [
    `gbdt, ${rows.toLocaleString('en')} rows x ${NUM} numeric + ${CAT} categorical, 200 rounds, depth 6, ${os.cpus().length} cores`,
    '',
    `modelgate:     read ${ours.readSeconds.toFixed(1)} s + fit ${ours.fitSeconds.toFixed(1)} s = ${total(ours).toFixed(1)} s, peak RSS ${ours.peakRssMb.toFixed(0)} MB (target <= 1024 MB)`,
    ...(theirs
      ? [
          `scikit-learn:  read ${theirs.readSeconds.toFixed(1)} s + fit ${theirs.fitSeconds.toFixed(1)} s = ${total(theirs).toFixed(1)} s, peak RSS ${theirs.peakRssMb.toFixed(0)} MB`,
          `modelgate / scikit-learn wall time: ${(total(ours) / total(theirs)).toFixed(2)} (target <= 3); fit alone ${(ours.fitSeconds / theirs.fitSeconds).toFixed(2)}`,
        ]
      : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const outDir = path.join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'train-latest.json'), JSON.stringify({ at: new Date().toISOString(), rows, ours, theirs: theirs ?? null }, null, 2));
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
