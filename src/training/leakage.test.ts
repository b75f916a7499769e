import { describe, expect, it } from 'vitest';
import { splitEvery, type Dataset } from './dataset.js';
import { leakageWarning, leakingColumns } from './leakage.js';
import { seededRandom } from './random.js';

const ROWS = 2000;

/** A binary table: `status` and `refund` written after the outcome, `id` unique per row, `lead` a real but imperfect predictor. */
function bookings(): Dataset {
  const rand = seededRandom(7);
  const label = new Uint8Array(ROWS);
  const lead = new Float64Array(ROWS);
  const refund = new Float64Array(ROWS);
  const id = new Float64Array(ROWS);
  const status: string[] = [];
  const code: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    label[i] = rand() < 0.4 ? 1 : 0;
    lead[i] = label[i] * 30 + rand() * 100;
    // Falls as the target rises: as telling as one that rises.
    refund[i] = label[i] ? -1 - rand() : rand();
    id[i] = 1000 + i;
    status.push(label[i] ? 'Canceled' : 'Check-Out');
    code.push(`B${i}`);
  }
  return { rows: ROWS, label, task: 'binary', numeric: { lead, refund, id }, categorical: { status, code } };
}

describe('columns that alone give the target on the held-out rows', () => {
  it('names a category or a number that copies a binary target (either way round), not an identifier or a real predictor', () => {
    const found = leakingColumns(splitEvery(bookings(), 4));
    expect(found.map((f) => [f.column, f.measure])).toEqual([
      ['refund', 'roc_auc'],
      ['status', 'roc_auc'],
    ]);
    for (const f of found) expect(f.value).toBe(1);
    expect(leakageWarning(found, 'is_canceled')).toBe(
      'refund (ROC AUC 1.000), status (ROC AUC 1.000) alone predict is_canceled on the held-out rows almost perfectly: a column written after the outcome leaks it, and serving will not have them when it decides; if so, leave them out with --exclude refund,status',
    );
    expect(leakageWarning([], 'is_canceled')).toBeUndefined();
  });

  it('a copy with a few rows off still counts; one right only as often as chance does not', () => {
    const d = bookings();
    const noisy = d.categorical.status.map((s, i) => (i % 200 === 1 ? (s === 'Canceled' ? 'Check-Out' : 'Canceled') : s));
    const coin = d.categorical.status.map((s, i) => (i % 2 ? s : 'Canceled'));
    const found = leakingColumns(splitEvery({ ...d, numeric: {}, categorical: { noisy, coin } }, 4));
    expect(found.map((f) => f.column)).toEqual(['noisy']);
  });

  it('multiclass: a category that maps to the class is named, unless one class is nearly every row', () => {
    const rand = seededRandom(3);
    const classes = ['low', 'mid', 'high'];
    const classIndex = Uint16Array.from({ length: ROWS }, () => Math.floor(rand() * 3));
    const tier = Array.from(classIndex, (k) => `tier-${classes[k]}`);
    const d: Dataset = { rows: ROWS, label: new Uint8Array(ROWS), task: 'multiclass', classes, classIndex, numeric: {}, categorical: { tier } };
    expect(leakingColumns(splitEvery(d, 4))).toEqual([{ column: 'tier', measure: 'accuracy', value: 1 }]);
    // 96 % of rows in one class: "predicting" it says nothing.
    const skewed = Uint16Array.from({ length: ROWS }, (_, i) => (i % 25 === 0 ? 1 : 0));
    const flat = Array.from(skewed, () => 'same');
    expect(leakingColumns(splitEvery({ ...d, classIndex: skewed, categorical: { flat } }, 4))).toEqual([]);
  });

  it('regression: a number that is the target rescaled, or a category per value, is named; noise is not', () => {
    const rand = seededRandom(5);
    const target = Float64Array.from({ length: ROWS }, () => 50 + rand() * 200);
    const cents = Float64Array.from(target, (y) => y * 100 + 3);
    const noise = Float64Array.from(target, () => rand());
    const bucket = Array.from(target, (y) => String(Math.round(y)));
    const d: Dataset = { rows: ROWS, label: new Uint8Array(ROWS), task: 'regression', target, numeric: { cents, noise }, categorical: { bucket } };
    const found = leakingColumns(splitEvery(d, 4));
    expect(found.map((f) => [f.column, f.measure])).toEqual([
      ['cents', 'r2'],
      ['bucket', 'r2'],
    ]);
    expect(found[0].value).toBeCloseTo(1, 12);
    expect(found[1].value).toBeGreaterThan(0.99);
  });

  it('too few held-out rows to tell: nothing is named', () => {
    const d = bookings();
    const small = splitEvery({ ...d, rows: 150, label: d.label.slice(0, 150), numeric: { refund: d.numeric.refund.slice(0, 150) }, categorical: { status: d.categorical.status.slice(0, 150) } }, 4);
    expect(small.test.rows).toBeLessThan(50);
    expect(leakingColumns(small)).toEqual([]);
  });
});
