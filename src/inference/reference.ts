import type { Row } from './encoder.js';
import type { RawOutput } from './engine.js';

/**
 * onnxruntime's own answers, which a compiled version must match before it may serve (see
 * Servable.load): a plain session of the graph, run on the check rows and released after.
 */
export interface Reference {
  run(rows: Row[]): Promise<RawOutput>;
  release(): Promise<void>;
}

/**
 * The reference stopped answering for a reason of its own (its thread died), not because
 * onnxruntime refused the rows: the check cannot conclude from it and is made again in-thread.
 */
export class ReferenceLost extends Error {
  override name = 'ReferenceLost';
}
