import { statSync } from 'node:fs';
import { sha256File } from '../lib/files.js';

interface TrainedManifest {
  training?: Record<string, unknown>;
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
