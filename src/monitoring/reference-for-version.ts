import { Servable, type Policy } from '../inference/index.js';
import type { Contract, OutputSpec } from '../inference/index.js';
import { notNumbersNote } from '../lib/csv-cell.js';
import { checkSkipped, referenceFromCsv } from './reference-csv.js';

/** A version about to be registered: what its reference is scored with. */
export interface PreparedVersion {
  contract: Contract;
  output: OutputSpec;
  policy: Policy;
}

/**
 * A reference CSV scored through the version being registered and profiled, for its drift
 * monitoring (register --reference, and the same over HTTP). Rows that cannot be scored refuse
 * the file unless allowed; what the caller should hear of (skipped rows, cells that were not
 * numbers, unseen categories) comes back as notes, warnings marked as such.
 */
export async function profileReferenceFile(
  prep: PreparedVersion,
  onnx: Uint8Array,
  model: string,
  file: string,
  o: { target?: string; allowSkipped: boolean; subject: string; onProgress?: (rows: number) => void },
) {
  const spec = { model, version: 0, contract: prep.contract, output: prep.output, policy: prep.policy };
  const s = await Servable.load(onnx, spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
  try {
    const r = await referenceFromCsv(file, s, prep.policy, { target: o.target, onProgress: o.onProgress });
    const notes: string[] = [];
    const skipped = checkSkipped({ ...r, scored: r.rows }, { subject: o.subject, consequence: 'nothing was registered', allowSkipped: o.allowSkipped, allowWhat: 'profile the other rows' });
    if (skipped) notes.push(skipped);
    const read = notNumbersNote(r.notNumbers, r.notNumberExamples, r.rows);
    if (read) notes.push(read);
    if (r.unseenNote) notes.push(`warning: ${r.unseenNote}`);
    return { ...r, notes };
  } finally {
    await s.release();
  }
}
