import { AppError } from '../lib/errors.js';
import { firstCopies, type Dataset } from './dataset.js';
import type { OrderColumn } from './order-column.js';
import { splitCounting, type Split } from './train.js';

/**
 * Out of time: the latest rows by `order` are held out, as the model will meet rows that come
 * after everything it learnt from; every row of the first held-out time goes with it, so no
 * moment is on both sides. Rows that repeat one another across the cut are counted, as for the
 * other splits (a copy in training of a later row is then what the model will really meet).
 */
export function timeSplit(d: Dataset, order: OrderColumn, testFraction: number): Split {
  const v = order.values;
  const sorted = Float64Array.from(v).sort();
  const from = sorted[Math.min(d.rows - 1, d.rows - Math.max(1, Math.round(d.rows * testFraction)))];
  const show = (x: number) => (order.kind === 'time' ? new Date(x).toISOString() : String(x));
  if (from === sorted[0])
    throw new AppError(
      'BAD_REQUEST',
      `--time-column ${order.column}: the latest ${Math.round(testFraction * 100)} % of the rows start at its first value (${show(from)}), so nothing would be left to train on before it; hold out less (--test-fraction) or order by a finer column`,
    );
  // The last time before the first row at `from` (there is one: `from` is not the first value).
  const trainedUpTo = sorted[sorted.indexOf(from) - 1];
  const split = splitCounting(d, firstCopies(d), (i) => v[i] >= from, false);
  const trainOrder = Float64Array.from(v).filter((x) => x < from);
  return { ...split, trainOrder, time: { column: order.column, kind: order.kind, from, trainedUpTo, last: sorted[sorted.length - 1] } };
}

/** What a time split held out, in words: the rows from which time, and the last time trained on. */
export function timeSplitLine(split: Split): string | undefined {
  const t = split.time;
  if (!t) return undefined;
  const show = (x: number) => (t.kind === 'time' ? new Date(x).toISOString().replace('T00:00:00.000Z', '') : String(x));
  return `held out: the ${split.test.rows.toLocaleString('en-US')} latest rows by ${t.column}, ${show(t.from)} to ${show(t.last)}; trained on the ${split.train.rows.toLocaleString('en-US')} rows up to ${show(t.trainedUpTo)}`;
}

/** A time split's record: the column, and where it cut (as the column's own kind of value). */
export function timeSplitRecord(split: Split) {
  const t = split.time;
  if (!t) return {};
  const at = (x: number) => (t.kind === 'time' ? new Date(x).toISOString() : x);
  return { time_column: t.column, held_out_from: at(t.from), trained_up_to: at(t.trainedUpTo) };
}
