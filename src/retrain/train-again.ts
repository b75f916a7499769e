import type { Policy } from '../inference/index.js';
import { AppError } from '../lib/errors.js';
import { costMatrixOf } from '../monitoring/index.js';
import {
  indexSplit,
  ingestCsv,
  randomSplit,
  timeSplit,
  timeSplitLine,
  timeSplitRecord,
  trainKindModel,
  trainModel,
  type Algorithm,
  type Dataset,
  type GbdtParams,
  type Ingested,
  type RegressionLoss,
  type Split,
  type TrainingTask,
} from '../training/index.js';

// The part of a retrain that only computes: read the new data and train again as the run record
// says. It runs on a thread of its own (train-thread.ts): training is synchronous and takes
// seconds to minutes, and a planned retrain runs inside the server.

/** What a version's manifest records of the run that trained it (manifest.training). */
export interface RunRecord {
  run_id?: string;
  algorithm?: Algorithm;
  task?: TrainingTask;
  target?: string;
  params?: Record<string, unknown>;
  columns?: { name: string; role: string }[];
  split?: { kind?: string; test_fraction?: number; seed?: number; group_copies?: boolean; time_column?: string };
  gates?: Record<string, number>;
  /** A binary target of two other values (`train --positive`): negative, then positive. */
  class_labels?: [string, string];
}

/** The columns a run record says the version takes as features. */
export const featureColumns = (roles: RunRecord['columns']): string[] => (roles ?? []).filter((c) => c.role === 'numeric' || c.role === 'categorical').map((c) => c.name);

/** The columns the version was trained on must all be usable in the new data (kept: not empty). */
function requireTrainedColumns(roles: NonNullable<RunRecord['columns']>, ingested: Ingested, data: string, fromVersion: number): void {
  const kept = featureColumns(roles);
  const now_ = new Map(ingested.columns.map((c) => [c.name, c]));
  const lost = kept.filter((c) => {
    const role = now_.get(c)?.role;
    return role !== 'numeric' && role !== 'categorical';
  });
  if (lost.length)
    throw new AppError(
      'BAD_REQUEST',
      `${data}: ${lost.map((c) => `${c} (${now_.get(c)?.note?.replace(/; left out.*$/, '') ?? 'not in the file'})`).join(', ')}: version ${fromVersion} was trained on ${lost.length > 1 ? 'these columns' : 'this column'}, and its candidate must take the same requests; send data where ${lost.length > 1 ? 'they hold' : 'it holds'} values`,
    );
}

/** Train again as the run record says: the same algorithm, parameters and split of the new data. */
function trainAgain(run: RunRecord, algorithm: Algorithm, task: TrainingTask, ingested: Ingested, policy: Policy) {
  const fraction = run.split?.test_fraction ?? 0.25;
  const opts = { groupCopies: run.split?.group_copies === true };
  const split: Split =
    run.split?.kind === 'time' && ingested.order
      ? timeSplit(ingested.data, ingested.order, fraction)
      : run.split?.kind === 'random'
        ? randomSplit(ingested.data, fraction, run.split.seed ?? 42, opts)
        : indexSplit(ingested.data, fraction, opts);
  const params = run.params ?? {};
  const gbdt: Partial<GbdtParams> = Object.fromEntries(
    Object.entries(params).filter(([key]) =>
      ['rounds', 'learningRate', 'maxLeaves', 'maxDepth', 'minSamplesLeaf', 'l2', 'maxBins', 'maxCategories', 'validationFraction', 'patience', 'seed'].includes(key),
    ),
  );
  let trained: { onnx: Uint8Array; policy: Policy; metrics: Record<string, number>; reference: unknown; cautions: string[]; run: Record<string, unknown> & { run_id: string } };
  if (task === 'binary') {
    const costs = costMatrixOf(params) ?? undefined;
    const bands = params.policy === 'bands' && policy.type === 'bands' ? policy : undefined;
    trained = trainModel({ data: ingested.data, algo: algorithm, split, costs, bands, gbdt, ...(typeof params.l2 === 'number' ? { l2: params.l2 } : {}) });
  } else {
    trained = trainKindModel({
      data: ingested.data,
      algo: algorithm,
      split,
      gbdt,
      loss: params.loss === 'softmax' ? undefined : (params.loss as RegressionLoss | undefined),
      ...(typeof params.l2 === 'number' ? { l2: params.l2 } : {}),
      policy,
    });
  }
  return { trained, split };
}

/** What the training thread is given: the data file and the run to repeat. */
export interface TrainJob {
  file: string;
  /** The data as the user named it (a path or s3:// address), for messages. */
  data: string;
  model: string;
  fromVersion: number;
  run: RunRecord & { algorithm: Algorithm; target: string };
  task: TrainingTask;
  policy: Policy;
}

/** What it gives back: the candidate, the held-out rows it was measured on, and what the new data was. */
export interface TrainedAgain {
  trained: ReturnType<typeof trainAgain>['trained'];
  test: Dataset;
  /** Rows of the new data that repeat an earlier row (kept on its side of the split with group_copies). */
  copies: number;
  /** Held-out rows with an exact copy among the training rows. */
  heldOutWithCopy: number;
  columns: { name: string; role: string }[];
  sha256: string;
  rowsRead: number;
  /** The new data's two target values (negative, positive), when the run names a positive class. */
  classLabels?: [string, string];
  /** A time split's cut in the new data (time_column, held_out_from, trained_up_to). */
  timeSplit?: Record<string, unknown>;
}

/** Read the new data with the run's column roles and train the candidate on it. */
export async function ingestAndTrain(job: TrainJob, say: (message: string) => void): Promise<TrainedAgain> {
  const roles = job.run.columns ?? [];
  const ingested = await ingestCsv(job.file, {
    target: job.run.target,
    task: job.task,
    // The same features with the same types, so the candidate takes the requests production does.
    features: featureColumns(roles),
    numeric: roles.filter((c) => c.role === 'numeric').map((c) => c.name),
    categorical: roles.filter((c) => c.role === 'categorical').map((c) => c.name),
    ...(job.run.class_labels ? { positive: job.run.class_labels[1] } : {}),
    ...(job.run.split?.kind === 'time' && job.run.split.time_column ? { orderBy: job.run.split.time_column } : {}),
    onProgress: say,
  }).catch((e) => {
    // A column the run record names but the new data lacks: say which data and which version.
    throw e instanceof AppError && /: no column/.test(e.message) ? new AppError(e.code, `${e.message} (retraining ${job.model} version ${job.fromVersion} needs the columns it was trained on)`) : e;
  });
  requireTrainedColumns(roles, ingested, job.data, job.fromVersion);
  say(`training ${job.run.algorithm} (${job.task}) on ${ingested.data.rows} rows, split as version ${job.fromVersion} was`);
  const started = performance.now();
  const { trained, split } = trainAgain(job.run, job.run.algorithm, job.task, ingested, job.policy);
  say(`trained on ${split.train.rows} rows (${split.test.rows} held out) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (split.copies && split.groupCopies) say(`${split.copies} rows repeat an earlier row exactly: each is on the side of the split of the row it copies`);
  else if (split.heldOutWithCopy) say(`${split.heldOutWithCopy} of the ${split.test.rows} held-out rows have an exact copy among the training rows`);
  const timeLine = timeSplitLine(split);
  if (timeLine) say(timeLine);
  for (const c of trained.cautions) say(`warning: ${c}`);
  return {
    trained,
    test: split.test,
    copies: split.copies ?? 0,
    heldOutWithCopy: split.heldOutWithCopy ?? 0,
    columns: ingested.columns.map((c) => ({ name: c.name, role: c.role })),
    sha256: ingested.sha256,
    rowsRead: ingested.rowsRead,
    ...(ingested.classLabels ? { classLabels: ingested.classLabels } : {}),
    ...(split.time ? { timeSplit: timeSplitRecord(split) } : {}),
  };
}
