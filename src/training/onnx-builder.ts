import { onnx } from '../lib/onnx-proto.js';

const FLOAT = 1;
const STRING = 8;
const INT64 = 7;

/** A number array is ints unless wrapped as { floats }. */
type Attr = number | string | number[] | string[] | { floats: number[] };

/** Minimal helpers to write ONNX graphs with onnx-proto; what scikit-learn's converter emits. */
export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}, domain = '') {
  const attribute = Object.entries(attrs).map(([name, v]) => {
    if (typeof v === 'number') return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
    if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
    if (!Array.isArray(v)) return { name, type: 6, floats: v.floats };
    if (v.length && typeof v[0] === 'string') return { name, type: 8, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    return { name, type: 7, ints: v as number[] };
  });
  return onnx().NodeProto.create({ opType, input: inputs, output: outputs, name: outputs[0], domain, attribute });
}

export function floatTensor(name: string, dims: number[], values: ArrayLike<number>) {
  return onnx().TensorProto.create({ name, dims, dataType: FLOAT, floatData: Array.from(values) });
}

export function int64Tensor(name: string, dims: number[], values: number[]) {
  return onnx().TensorProto.create({ name, dims, dataType: INT64, int64Data: values });
}

export function valueInfo(name: string, elem: 'float' | 'string', dims: (number | string)[]) {
  return onnx().ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: elem === 'float' ? FLOAT : STRING,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function model(opts: {
  name: string;
  nodes: ReturnType<typeof node>[];
  inputs: ReturnType<typeof valueInfo>[];
  outputs: ReturnType<typeof valueInfo>[];
  initializers: ReturnType<typeof floatTensor>[];
  docString?: string;
}): Uint8Array {
  const m = onnx().ModelProto.create({
    irVersion: 8,
    producerName: 'modelgate',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    opsetImport: [
      { domain: '', version: 15 },
      { domain: 'ai.onnx.ml', version: 1 },
    ],
    graph: { name: opts.name, node: opts.nodes, input: opts.inputs, output: opts.outputs, initializer: opts.initializers },
  });
  return onnx().ModelProto.encode(m).finish();
}
