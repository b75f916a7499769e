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

/**
 * A real ONNX graph with the demo model's inputs that is slow on purpose: every run multiplies
 * two size×size matrices that depend on the input (so they cannot be folded at load).
 */
export function slowModel(pre: Preprocessor, size = 1000, rounds = 12): Uint8Array {
  const w = Array.from({ length: size * size }, (_, i) => ((i * 7919) % 1000) / 1e6);
  const chain = Array.from({ length: rounds }, (_, i) => node('MatMul', [i === 0 ? 'scaled' : `p${i - 1}`, 'w'], [`p${i}`]));
  return model({
    name: 'slow',
    nodes: [
      node('ReduceMean', ['lead_time'], ['mean'], { keepdims: 0 }),
      node('Mul', ['w', 'mean'], ['scaled']),
      ...chain,
      node('ReduceMean', [`p${rounds - 1}`], ['m'], { keepdims: 0 }),
      node('Mul', ['lead_time', 'zero'], ['zeros']),
      node('Add', ['zeros', 'm'], ['logit']),
      node('Sigmoid', ['logit'], ['positive']),
      node('Sub', ['one', 'positive'], ['negative']),
      node('Concat', ['negative', 'positive'], ['probabilities'], { axis: 1 }),
    ],
    initializers: [floatTensor('w', [size, size], w), floatTensor('zero', [1], [0]), floatTensor('one', [1], [1])],
    inputs: [...pre.numeric.map((s) => valueInfo(s.name, 'float', ['N', 1])), ...pre.categorical.map((c) => valueInfo(c.name, 'string', ['N', 1]))],
    outputs: [valueInfo('probabilities', 'float', ['N', 2])],
  });
}
