import type onnxProto from 'onnx-proto';
import { alloc, dtypeOf, Unsupported, type DType, type Tensor } from './tensor.js';

type TensorProto = onnxProto.onnx.ITensorProto;

/** Lists of numbers read from the wire may be typed arrays (floats: Float32Array, ints: Float64Array). */
export type AttrValue = number | string | number[] | Float32Array | Float64Array | string[] | Tensor;

export interface IrNode {
  op: string;
  domain: 'ai.onnx' | 'ai.onnx.ml';
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

export interface IrGraph {
  opsets: { 'ai.onnx': number; 'ai.onnx.ml': number };
  inputs: { name: string; type: DType }[];
  outputs: string[];
  initializers: Map<string, Tensor>;
  nodes: IrNode[];
}

const utf8 = new TextDecoder();

/** A TensorProto's values, from its typed fields or its little-endian raw bytes. */
export function tensorOf(t: TensorProto, where: string): Tensor {
  const type = dtypeOf(t.dataType ?? 0, where);
  const dims = (t.dims ?? []).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = alloc(type, n);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (type === 'string') {
    const s = (t.stringData ?? []).map((b) => utf8.decode(b));
    for (let i = 0; i < n; i++) (data as string[])[i] = s[i] ?? '';
    return { type, dims, data };
  }
  const out = data as Float32Array | Float64Array;
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = { float: 4, double: 8, int64: 8, int32: 4, bool: 1 }[type];
    if (raw.byteLength !== n * width) throw new Unsupported(`${where}: raw data of ${raw.byteLength} bytes for ${n} values`);
    for (let i = 0; i < n; i++) {
      out[i] =
        type === 'float'
          ? view.getFloat32(i * 4, true)
          : type === 'double'
            ? view.getFloat64(i * 8, true)
            : type === 'int64'
              ? Number(view.getBigInt64(i * 8, true))
              : type === 'int32'
                ? view.getInt32(i * 4, true)
                : view.getUint8(i);
    }
    return { type, dims, data };
  }
  const src: ArrayLike<unknown> = type === 'float' ? (t.floatData ?? []) : type === 'double' ? (t.doubleData ?? []) : type === 'int64' ? (t.int64Data ?? []) : (t.int32Data ?? []); // int32 and bool are stored in int32_data
  if (src.length !== n) throw new Unsupported(`${where}: ${src.length} values for shape [${dims.join(',')}]`);
  for (let i = 0; i < n; i++) out[i] = Number(src[i]);
  return { type, dims, data };
}

/** Typed attribute access for kernels; every attribute a kernel reads is declared, so unknown ones are refused. */
export class Attrs {
  constructor(
    private readonly node: IrNode,
    known: readonly string[],
  ) {
    const unknown = [...node.attrs.keys()].filter((k) => !known.includes(k));
    if (unknown.length) throw new Unsupported(`${this.where}: attribute ${unknown.join(', ')} is not compiled`);
  }

  get where(): string {
    return `${this.node.op} ${this.node.name}`;
  }

  has(name: string): boolean {
    return this.node.attrs.has(name);
  }

  int(name: string, fallback?: number): number {
    const v = this.node.attrs.get(name);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number') throw new Unsupported(`${this.where}: attribute ${name} ${v === undefined ? 'missing' : 'is not a number'}`);
    return v;
  }

  float(name: string, fallback?: number): number {
    return this.int(name, fallback);
  }

  str(name: string, fallback?: string): string {
    const v = this.node.attrs.get(name);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string') throw new Unsupported(`${this.where}: attribute ${name} ${v === undefined ? 'missing' : 'is not a string'}`);
    return v;
  }

  nums(name: string): number[] | undefined {
    const v = this.numbers(name);
    return v === undefined || Array.isArray(v) ? (v as number[] | undefined) : Array.from(v);
  }

  /** A list of numbers as read, without copying a typed array (a forest's node lists). */
  numbers(name: string): ArrayLike<number> | undefined {
    const v = this.node.attrs.get(name);
    if (v === undefined) return undefined;
    if (v instanceof Float32Array || v instanceof Float64Array) return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
    if (typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && v.type !== 'string') return v.data as ArrayLike<number>;
    throw new Unsupported(`${this.where}: attribute ${name} is not a list of numbers`);
  }

  strs(name: string): string[] | undefined {
    const v = this.node.attrs.get(name);
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    throw new Unsupported(`${this.where}: attribute ${name} is not a list of strings`);
  }

  tensor(name: string): Tensor | undefined {
    const v = this.node.attrs.get(name);
    if (v === undefined) return undefined;
    if (typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) return v;
    throw new Unsupported(`${this.where}: attribute ${name} is not a tensor`);
  }
}
