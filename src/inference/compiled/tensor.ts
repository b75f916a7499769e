/**
 * The compiled engine's values. Every number tensor holds plain JavaScript numbers: float in a
 * Float32Array (so each store rounds to float32, as onnxruntime's float kernels do), and double,
 * int64, int32 and bool in a Float64Array (integers far below 2^53 in tabular graphs: shapes,
 * indices, labels; bool as 0/1). Kernels never write into their inputs.
 */
export type DType = 'float' | 'double' | 'int64' | 'int32' | 'string' | 'bool';
export type NumData = Float32Array | Float64Array;

export interface Tensor {
  type: DType;
  dims: number[];
  data: NumData | string[];
}

export interface NumTensor extends Tensor {
  data: NumData;
}

/** Why a graph cannot run on the compiled engine; the version then serves on onnxruntime. */
export class Unsupported extends Error {}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Product of dims[from…]: the values in one row of a [N, …] tensor, without copying the shape. */
export function sizeFrom(dims: readonly number[], from: number): number {
  let n = 1;
  for (let i = from; i < dims.length; i++) n *= dims[i];
  return n;
}

export function alloc(type: DType, n: number): NumData | string[] {
  if (type === 'string') return new Array<string>(n).fill('');
  return type === 'float' ? new Float32Array(n) : new Float64Array(n);
}

export function numeric(t: Tensor, where: string): NumTensor {
  if (t.type === 'string') throw new Unsupported(`${where}: a string tensor where numbers are needed`);
  return t as NumTensor;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolve a possibly negative axis against a rank. */
export function axisOf(axis: number, rank: number, where: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${where}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/**
 * Numpy broadcasting: the output shape and, for each input, the flat index it reads at each
 * output position (only computed when some input differs from the output shape).
 */
export function broadcast(shapes: readonly (readonly number[])[], where: string): { dims: number[]; maps: (Int32Array | null)[] } {
  const rank = Math.max(...shapes.map((s) => s.length));
  const dims = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i];
      if (d === dims[j] || d === 1) continue;
      if (dims[j] === 1) dims[j] = d;
      else throw new Error(`${where}: shapes ${shapes.map((x) => `[${x.join(',')}]`).join(' and ')} do not broadcast`);
    }
  }
  const n = sizeOf(dims);
  const maps = shapes.map((s) => {
    if (s.length === rank && s.every((d, i) => d === dims[i])) return null;
    const size = sizeOf(s);
    const map = new Int32Array(n);
    if (size === 1) return map; // all zeros
    const inStrides = stridesOf(s);
    // Stride of each output axis in the input: 0 where the input is broadcast along it.
    const st = dims.map((_, j) => {
      const i = j - (rank - s.length);
      return i < 0 || s[i] === 1 ? 0 : inStrides[i];
    });
    const idx = new Array<number>(rank).fill(0);
    let off = 0;
    for (let k = 0; k < n; k++) {
      map[k] = off;
      for (let j = rank - 1; j >= 0; j--) {
        idx[j]++;
        off += st[j];
        if (idx[j] < dims[j]) break;
        off -= st[j] * dims[j];
        idx[j] = 0;
      }
    }
    return map;
  });
  return { dims, maps };
}

const ELEM: Record<number, DType> = { 1: 'float', 11: 'double', 7: 'int64', 6: 'int32', 8: 'string', 9: 'bool' };

/** An ONNX TensorProto.DataType code as a compiled-engine type. */
export function dtypeOf(code: number, where: string): DType {
  const t = ELEM[code];
  if (!t) throw new Unsupported(`${where}: element type ${code} is not compiled (float, double, int64, int32, string, bool are)`);
  return t;
}

/**
 * Values up to which a kernel or feed keeps its buffer between runs: the server's batches (64
 * rows by default, BATCH_MAX_ROWS) of a few dozen columns fit. A larger run, a batch request,
 * gets a buffer of its own that is not kept, so a loaded version holds at most this much per
 * kernel (16–32 KiB) after any request, however large.
 */
const KEEP_ELEMENTS = 4_096;

/**
 * A kernel's reusable output buffer. A program runs synchronously and only its final output
 * leaves it (copied), so a node can write into the same memory on every run; allocating small
 * typed arrays would otherwise cost more than the arithmetic in them. A server's runs vary in
 * rows (as many as arrived during the previous run), so the buffer keeps the largest size seen
 * and each run gets a view of the length it needs: a new array on every change of size cost
 * 0.4 µs a request in a profile of a loaded server, and its garbage.
 */
export class Scratch {
  private buf: NumData | undefined;
  private view: NumData | undefined;

  constructor(private readonly type: Exclude<DType, 'string'>) {}

  /** An array of n elements; zeroed when asked (a fresh one already is). */
  get(n: number, zero = false): NumData {
    let v = this.view;
    if (v && v.length === n) {
      if (zero) v.fill(0);
      return v;
    }
    if (n > KEEP_ELEMENTS) return alloc(this.type, n) as NumData;
    const kept = this.buf;
    const b = kept && kept.length >= n ? kept : (this.buf = alloc(this.type, Math.min(KEEP_ELEMENTS, Math.max(n, 2 * (kept?.length ?? 0)))) as NumData);
    v = this.view = b.length === n ? b : b.subarray(0, n);
    // A fresh buffer is zero already; a kept one holds an earlier run's values.
    if (zero && b === kept) v.fill(0);
    return v;
  }
}

/** The largest finite float32 (FLT_MAX): onnxruntime's kernels start or bound at it, and its negative, rather than at ±∞. */
export const FLOAT32_MAX = 3.4028234663852886e38;
