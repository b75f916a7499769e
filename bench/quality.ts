/**
 * npm run bench:quality: holdout quality of the built-in algorithms on the public data sets in
 * ../shared/datasets, with the default split (row i is a test row when i % 4 == 0, after rows
 * without a target are dropped), against scikit-learn 1.2's numbers on the same split:
 * binary ROC AUC (both algorithms), regression R² (hotel_bookings adr: gradient boosting
 * against HistGradientBoostingRegressor, ridge against Ridge) and multiclass accuracy and log
 * loss (telco_churn Contract: against HistGradientBoostingClassifier and LogisticRegression).
 * The regression and multiclass references come from bench/quality-kinds-reference.py.
 * Environment: QUALITY_DATASETS (default ../shared/datasets).
 */
import path from 'node:path';
import { log, root } from './harness.js';
import { ingestCsv } from '../src/training/csv.js';
import { encodeRow, fitGbdt } from '../src/training/gbdt.js';
import { splitEvery } from '../src/training/dataset.js';
import { predictTrees } from '../src/training/trees.js';
import { rocAuc, trainLogisticRegression } from '../src/training/index.js';
import { indexSplit } from '../src/training/train.js';
import { trainKindModel } from '../src/training/train-kinds.js';

const dir = process.env.QUALITY_DATASETS ?? path.resolve(root, '../shared/datasets');
const SETS = [
  { file: 'bank_churn.csv', target: 'Exited', exclude: ['RowNumber', 'CustomerId', 'Surname'], gbdt: 0.849, logreg: 0.766 },
  { file: 'telco_churn.csv', target: 'Churn', exclude: ['customerID'], gbdt: 0.828, logreg: 0.839 },
  { file: 'hotel_bookings.csv', target: 'is_canceled', exclude: ['reservation_status', 'reservation_status_date'], gbdt: 0.985, logreg: 0.965 },
];
const TOLERANCE = 0.005;

/** scikit-learn 1.2.1 on the same split (bench/quality-kinds-reference.py); "within" is how far below (or, for log loss, above) modelgate may be. */
const KIND_SETS = [
  {
    file: 'hotel_bookings.csv',
    target: 'adr',
    exclude: ['reservation_status', 'reservation_status_date'],
    checks: [
      { algo: 'gbdt', metric: 'r2', ref: 0.8874, within: 0.01 },
      { algo: 'logreg', metric: 'r2', ref: 0.5822, within: 0.01 },
    ],
  },
  {
    file: 'telco_churn.csv',
    target: 'Contract',
    exclude: ['customerID'],
    checks: [
      { algo: 'gbdt', metric: 'accuracy', ref: 0.7166, within: 0.01 },
      { algo: 'gbdt', metric: 'log_loss', ref: 0.6373, within: 0.02 },
      { algo: 'logreg', metric: 'accuracy', ref: 0.7297, within: 0.01 },
      { algo: 'logreg', metric: 'log_loss', ref: 0.5731, within: 0.02 },
    ],
  },
] as const;

async function main() {
  const rows: string[][] = [];
  let failed = 0;
  for (const s of SETS) {
    log(`${s.file}: reading`);
    const { data } = await ingestCsv(path.join(dir, s.file), { target: s.target, exclude: s.exclude });
    const { train, test } = splitEvery(data, 4);
    let t0 = Date.now();
    const m = fitGbdt(
      train,
      {},
      (p) => p.round % 25 === 0 && log(`  gbdt round ${p.round}: train loss ${p.trainLoss.toFixed(4)}${p.validationLoss !== undefined ? `, validation ${p.validationLoss.toFixed(4)}` : ''}`),
    );
    const gbdtSeconds = (Date.now() - t0) / 1000;
    const ens = { features: m.encoding.numeric, categorical: m.encoding.categorical, base: m.base, trees: m.trees };
    const scores = Array.from({ length: test.rows }, (_, i) => predictTrees(ens, encodeRow(m.encoding, test, i)));
    const gbdtAuc = rocAuc(scores, test.label);
    t0 = Date.now();
    const lr = trainLogisticRegression(data);
    const lrSeconds = (Date.now() - t0) / 1000;
    for (const [algo, auc, ref, secs] of [
      ['gbdt', gbdtAuc, s.gbdt, gbdtSeconds],
      ['logreg', lr.metrics.roc_auc, s.logreg, lrSeconds],
    ] as const) {
      const pass = auc >= ref - TOLERANCE;
      if (!pass) failed++;
      rows.push([s.file, algo, auc.toFixed(4), ref.toFixed(3), pass ? 'pass' : 'FAIL', `${secs.toFixed(1)} s${algo === 'gbdt' ? ` (${m.rounds} rounds)` : ''}`]);
    }
  }
  for (const s of KIND_SETS) {
    log(`${s.file} → ${s.target}: reading`);
    const { data, task } = await ingestCsv(path.join(dir, s.file), { target: s.target, exclude: [...s.exclude] });
    const split = indexSplit(data, 0.25);
    for (const algo of ['gbdt', 'logreg'] as const) {
      const t0 = Date.now();
      const t = trainKindModel({ data, algo, split });
      const secs = (Date.now() - t0) / 1000;
      for (const c of s.checks.filter((x) => x.algo === algo)) {
        const v = t.metrics[c.metric];
        const lowerIsBetter = c.metric === 'log_loss';
        const pass = lowerIsBetter ? v <= c.ref + c.within : v >= c.ref - c.within;
        if (!pass) failed++;
        const name = algo === 'gbdt' ? 'gbdt' : task === 'regression' ? 'ridge' : 'multinomial';
        rows.push([
          `${s.file} → ${s.target}`,
          `${name} ${c.metric}`,
          v.toFixed(4),
          c.ref.toFixed(4),
          `${pass ? 'pass' : 'FAIL'} (${lowerIsBetter ? '≤ ref +' : '≥ ref −'} ${c.within})`,
          `${secs.toFixed(1)} s`,
        ]);
      }
    }
  }
  const head = ['data set', 'algorithm', 'value', 'reference', `≥ ref − ${TOLERANCE} (AUC)`, 'training time'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n`);
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
