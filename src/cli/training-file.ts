import { statSync } from 'node:fs';
import { AppError } from '../lib/errors.js';
import { sha256File } from '../lib/files.js';
import { trainingTarget } from '../registry/index.js';
import { describeTrainedShare, trainedShare, type RowSketch } from '../training/index.js';

interface TrainedManifest {
  training?: Record<string, unknown>;
  reference?: unknown;
}

/**
 * "FILE is the file version 2 was trained on: 5,282 of its 7,043 rows trained it", when `file`
 * is byte for byte the CSV the version's training run read (its recorded sha256); else undefined.
 * Rows a model was fitted on score better than rows it never saw, so what is measured or chosen
 * on them does not hold for traffic; callers say what that means for their command.
 */
export async function trainedOnFile(file: string, version: number, manifest: TrainedManifest, fileSha256?: string): Promise<string | undefined> {
  const t = manifest.training as { dataset?: { sha256?: unknown; rows_read?: unknown }; rows?: { train?: unknown } } | undefined;
  if (typeof t?.dataset?.sha256 !== 'string') return undefined;
  // A pipe is read once, by the command: only a file is hashed.
  const sha = fileSha256 ?? (statSync(file).isFile() ? (await sha256File(file)).sha256 : undefined);
  if (sha === undefined || t.dataset.sha256 !== sha) return undefined;
  const n = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US') : undefined);
  const train = n(t.rows?.train);
  const read = n(t.dataset.rows_read);
  return `${file} is the file version ${version} was trained on: ${train ? `${train} of its ${read ? `${read} ` : ''}rows trained it` : 'its rows trained it'}`;
}

/**
 * "about 64 % of these rows are rows version 1 was trained on (…)", when rows scored from a file
 * (each feature's values in contract order, as scoreCsv gives them) hold enough of the version's
 * training rows, estimated from the sample of their keys its run kept (training/row-sketch.ts):
 * a longer export of the training table is another file, but what is measured on it flatters
 * the version as much. Undefined for fewer, or a version whose run kept no sample.
 */
export function trainedRowsIn(version: number, manifest: TrainedManifest, features: readonly string[], columns: readonly unknown[][], rows: number): string | undefined {
  const sketch = (manifest.training as { rows_sketch?: RowSketch } | undefined)?.rows_sketch;
  if (!sketch) return undefined;
  const at = sketch.columns.map((c) => features.indexOf(c));
  if (at.includes(-1)) return undefined;
  const t = trainedShare(sketch, sketch.columns, (i) => at.map((j) => columns[j]![i]), rows);
  return t && describeTrainedShare(t, 'these rows', version);
}

/** The column a version knows its outcome by: the one it was trained to predict, else the one `register --reference … --target` labelled its reference data by. */
export function knownTarget(manifest: TrainedManifest): { column: string; from: 'training' | 'reference' } | undefined {
  const trained = trainingTarget(manifest.training);
  if (trained) return { column: trained, from: 'training' };
  const labelled = (manifest.reference as { target?: unknown } | null | undefined)?.target;
  return typeof labelled === 'string' && labelled ? { column: labelled, from: 'reference' } : undefined;
}

/**
 * The column holding the real outcome: `--target` when given, else the column the version was
 * trained to predict (its run record names it), or for an imported version the one its reference
 * data was labelled by (`register --reference … --target`), so `evaluate --model churn --data
 * new.csv` needs no flag the version already knows. A version with neither: --target is asked for.
 */
export function outcomeColumn(given: string | undefined, manifest: TrainedManifest, model: string, version: number, why: string): { column: string; from?: string } {
  if (given !== undefined) {
    if (!given.trim()) throw new AppError('BAD_REQUEST', '--target: give the name of a column of the file');
    return { column: given };
  }
  const known = knownTarget(manifest);
  // `from` is said with the column: in the progress line, and when the file has no such column.
  if (known?.from === 'training') return { column: known.column, from: `the column version ${version} was trained to predict; --target names another` };
  if (known) return { column: known.column, from: `the column register --reference labelled version ${version}'s reference data by; --target names another` };
  throw new AppError(
    'BAD_REQUEST',
    `${why}: give --target COLUMN, the column of the file holding the real outcome (${model} version ${version} was registered from an ONNX file${manifest.reference ? ', and its reference profile names no target column' : ', so it names no training target'})`,
  );
}
