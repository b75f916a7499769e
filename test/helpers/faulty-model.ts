import { floatTensor, model, node, valueInfo } from '../../src/training/onnx-builder.js';
import type { Preprocessor } from '../../src/training/index.js';

/**
 * A real ONNX graph with the demo model's inputs that fails at run time for some rows:
 * it gathers from a one-element table at index floor(lead_time / failAbove), so any row with
 * lead_time >= failAbove is an out-of-bounds error inside onnxruntime. Other rows score `score`.
 */
export function faultyModel(pre: Preprocessor, failAbove: number, score = 0.3): Uint8Array {
  return model({
    name: 'faulty',
    nodes: [
      node('Div', ['lead_time', 'limit'], ['ratio']),
      node('Floor', ['ratio'], ['floored']),
      node('Cast', ['floored'], ['index'], { to: 7 }),
      node('Gather', ['table', 'index'], ['positive'], { axis: 0 }),
      node('Sub', ['one', 'positive'], ['negative']),
      node('Concat', ['negative', 'positive'], ['probabilities'], { axis: 1 }),
    ],
    initializers: [floatTensor('limit', [1], [failAbove]), floatTensor('table', [1], [score]), floatTensor('one', [1], [1])],
    inputs: [...pre.numeric.map((s) => valueInfo(s.name, 'float', ['N', 1])), ...pre.categorical.map((c) => valueInfo(c.name, 'string', ['N', 1]))],
    outputs: [valueInfo('probabilities', 'float', ['N', 2])],
  });
}
