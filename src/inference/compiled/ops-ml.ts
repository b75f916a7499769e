import type { OpCompiler, OpContext } from './op.js';
import { FLOATS, NUMBERS, requireTypes } from './op.js';
import { alloc, FLOAT32_MAX, Scratch, sizeFrom, Unsupported, type DType, type NumData, type Tensor } from './tensor.js';

const fround = Math.fround;
const where = (ctx: OpContext) => `${ctx.node.op} ${ctx.node.name}`;

/** Rows and columns of a [N,C] (or [C]: one row) input, as onnxruntime's ML kernels read it. */
function rowsCols(x: Tensor): [number, number] {
  return x.dims.length === 1 ? [1, x.dims[0]] : [x.dims[0], sizeFrom(x.dims, 1)];
}

/**
 * A per-column parameter list (one value for every column, or one per column) spread over the
 * input's columns. The array is kept for the next run: a server's inputs keep their width, and
 * building it (or a closure per column lookup) on every run cost more than the arithmetic.
 */
function perColumn(values: number[], at: string, name: string): (cols: number) => Float64Array {
  let spread = new Float64Array(0);
  return (cols) => {
    if (spread.length === cols) return spread;
    if (values.length !== 1 && values.length !== cols) throw new Error(`${at}: ${values.length} ${name} for ${cols} columns`);
    spread = Float64Array.from({ length: cols }, (_, j) => values[values.length === 1 ? 0 : j]);
    return spread;
  };
}

/** onnxruntime's logistic: computed on |x| for stability, in float. */
export const logistic = (x: number): number => {
  const v = fround(1 / (1 + Math.exp(-Math.abs(x))));
  return x < 0 ? fround(1 - v) : v;
};

/** The post-transforms of onnxruntime's ML kernels, applied to one row of scores in place. */
export function postTransform(kind: string, at: string): ((s: Float64Array) => void) | undefined {
  switch (kind) {
    case 'NONE':
      return undefined;
    case 'LOGISTIC':
      return (s) => {
        for (let i = 0; i < s.length; i++) s[i] = logistic(s[i]);
      };
    case 'SOFTMAX':
      return (s) => {
        let max = -Infinity;
        for (const v of s) if (v > max) max = v;
        let sum = 0;
        for (let i = 0; i < s.length; i++) sum += s[i] = Math.exp(s[i] - max);
        for (let i = 0; i < s.length; i++) s[i] /= sum;
      };
    case 'SOFTMAX_ZERO':
      return (s) => {
        let max = -Infinity;
        for (const v of s) if (v > max) max = v;
        const expNegMax = Math.exp(-max);
        let sum = 0;
        for (let i = 0; i < s.length; i++) {
          if (s[i] > 0.0000001 || s[i] < -0.0000001) sum += s[i] = Math.exp(s[i] - max);
          else s[i] *= expNegMax;
        }
        for (let i = 0; i < s.length; i++) s[i] /= sum;
      };
    default:
      throw new Unsupported(`${at}: post_transform ${kind} is not compiled (NONE, LOGISTIC, SOFTMAX and SOFTMAX_ZERO are)`);
  }
}

const imputer: OpCompiler = (ctx) => {
  const a = ctx.attrs(['imputed_value_floats', 'imputed_value_int64s', 'replaced_value_float', 'replaced_value_int64']);
  const t = requireTypes(ctx, 0, ['float', 'double', 'int64', 'int32']);
  const isFloat = t === 'float' || t === 'double';
  const imputed = (isFloat ? a.nums('imputed_value_floats') : a.nums('imputed_value_int64s')) ?? [];
  if (!imputed.length) throw new Unsupported(`${a.where}: no imputed values for a ${t} input`);
  const replaced = isFloat ? a.float('replaced_value_float', 0) : a.int('replaced_value_int64', 0);
  const hit = isFloat && Number.isNaN(replaced) ? (v: number) => Number.isNaN(v) : (v: number) => v === replaced;
  const values = perColumn(imputed, where(ctx), 'imputed values');
  const buf = new Scratch(t as 'float');
  return {
    types: [t],
    kernel: ([x]) => {
      const [rows, cols] = rowsCols(x!);
      const value = values(cols);
      const src = x!.data as NumData;
      const out = buf.get(src.length);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < cols; j++) {
          const v = src[r * cols + j];
          out[r * cols + j] = hit(v) ? value[j] : v;
        }
      return [{ type: t, dims: x!.dims, data: out }];
    },
  };
};

const scaler: OpCompiler = (ctx) => {
  const a = ctx.attrs(['offset', 'scale']);
  const t = requireTypes(ctx, 0, NUMBERS);
  const offset = (a.nums('offset') ?? [0]).map(fround);
  const scale = (a.nums('scale') ?? [1]).map(fround);
  // Float inputs are scaled in float (two roundings); others in double, then stored as float.
  const f = t === 'float' ? (x: number, o: number, s: number) => fround(fround(x - o) * s) : (x: number, o: number, s: number) => (x - o) * s;
  const offsets = perColumn(offset, where(ctx), 'offsets');
  const scales = perColumn(scale, where(ctx), 'scales');
  const buf = new Scratch('float');
  return {
    types: ['float'],
    kernel: ([x]) => {
      const [rows, cols] = rowsCols(x!);
      const off = offsets(cols);
      const sc = scales(cols);
      const src = x!.data as NumData;
      const out = buf.get(src.length);
      for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * cols + j] = f(src[r * cols + j], off[j], sc[j]);
      return [{ type: 'float', dims: x!.dims, data: out }];
    },
  };
};

const normalizer: OpCompiler = (ctx) => {
  const a = ctx.attrs(['norm']);
  const norm = a.str('norm', 'MAX');
  if (!['MAX', 'L1', 'L2'].includes(norm)) throw new Unsupported(`${a.where}: norm ${norm} is not compiled`);
  requireTypes(ctx, 0, NUMBERS);
  return {
    types: ['float'],
    kernel: ([x]) => {
      const [rows, cols] = rowsCols(x!);
      const src = x!.data as NumData;
      const out = new Float32Array(src.length);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let d = 0;
        if (norm === 'L2') {
          // onnxruntime's order, not x / ‖x‖: ±sqrt(x² / Σx²) in float32. They differ in the last
          // bit, and where a square overflows (Σ = ∞) this gives NaN, as onnxruntime does, not 0.
          for (let j = 0; j < cols; j++) d = fround(d + fround(src[o + j] * src[o + j]));
          for (let j = 0; j < cols; j++) {
            const x = src[o + j];
            const v = fround(Math.sqrt(fround(fround(x * x) / d)));
            out[o + j] = d !== 0 ? (x < 0 ? -v : v) : x;
          }
          continue;
        }
        if (norm === 'MAX') {
          // std::max from float32's lowest: a NaN never becomes the maximum, and -∞ alone leaves the lowest.
          d = -FLOAT32_MAX;
          for (let j = 0; j < cols; j++) {
            const v = fround(src[o + j]);
            if (d < v) d = v;
          }
        } else for (let j = 0; j < cols; j++) d = fround(d + Math.abs(src[o + j]));
        // The input is cast to float32 before the division (a double input too).
        for (let j = 0; j < cols; j++) out[o + j] = d !== 0 ? fround(src[o + j]) / d : src[o + j];
      }
      return [{ type: 'float', dims: x!.dims, data: out }];
    },
  };
};

const oneHot: OpCompiler = (ctx) => {
  const a = ctx.attrs(['cats_strings', 'cats_int64s', 'zeros']);
  const zeros = a.int('zeros', 1) === 1;
  const strs = a.strs('cats_strings');
  const ints = a.nums('cats_int64s');
  const t = requireTypes(ctx, 0, strs ? ['string'] : ['int64', 'int32', 'float', 'double']);
  const index = new Map<string | number, number>();
  (strs ?? ints ?? []).forEach((c, i) => {
    if (!index.has(c)) index.set(c, i);
  });
  const count = (strs ?? ints ?? []).length;
  if (!count) throw new Unsupported(`${a.where}: no categories`);
  const at = where(ctx);
  const buf = new Scratch('float');
  return {
    types: ['float'],
    fusion: { kind: 'oneHot', index, count, zeros, numeric: t !== 'string', at },
    kernel: ([x]) => {
      const src = x!.data;
      const out = buf.get(src.length * count, true);
      for (let i = 0; i < src.length; i++) {
        const v = t === 'string' ? (src as string[])[i] : Math.trunc((src as NumData)[i]);
        const k = index.get(v);
        if (k !== undefined) out[i * count + k] = 1;
        else if (!zeros) throw new Error(`${at}: unknown category ${JSON.stringify(v)}`);
      }
      return [{ type: 'float', dims: [...x!.dims, count], data: out }];
    },
  };
};

const labelEncoder: OpCompiler = (ctx) => {
  const a = ctx.attrs(['classes_strings', 'default_int64', 'default_string', 'default_float', 'keys_strings', 'keys_int64s', 'keys_floats', 'values_strings', 'values_int64s', 'values_floats']);
  const from = requireTypes(ctx, 0, ['string', 'int64', 'float']);
  let keys: (string | number)[];
  let values: (string | number)[];
  let outType: DType;
  if (ctx.opset < 2) {
    const classes = a.strs('classes_strings') ?? [];
    if (from === 'string') {
      keys = classes;
      values = classes.map((_, i) => i);
      outType = 'int64';
    } else {
      keys = classes.map((_, i) => i);
      values = classes;
      outType = 'string';
    }
  } else {
    keys = a.strs('keys_strings') ?? a.nums('keys_int64s') ?? a.nums('keys_floats') ?? [];
    const vs = a.strs('values_strings');
    const vi = a.nums('values_int64s');
    values = vs ?? vi ?? a.nums('values_floats') ?? [];
    outType = vs ? 'string' : vi ? 'int64' : 'float';
  }
  if (keys.length !== values.length) throw new Unsupported(`${a.where}: ${keys.length} keys for ${values.length} values`);
  const fallback = outType === 'string' ? a.str('default_string', '_Unused') : outType === 'int64' ? a.int('default_int64', -1) : a.float('default_float', -0.0);
  const map = new Map<string | number, string | number>();
  keys.forEach((k, i) => map.set(from === 'float' ? fround(k as number) : k, values[i]));
  return {
    types: [outType],
    kernel: ([x]) => {
      const src = x!.data;
      const out = alloc(outType, src.length);
      for (let i = 0; i < src.length; i++) out[i] = map.get(src[i]) ?? fallback;
      return [{ type: outType, dims: x!.dims, data: out }];
    },
  };
};

const binarizer: OpCompiler = (ctx) => {
  const threshold = ctx.attrs(['threshold']).float('threshold', 0);
  const t = requireTypes(ctx, 0, FLOATS);
  return {
    types: [t],
    kernel: ([x]) => {
      const src = x!.data as NumData;
      const out = alloc(t, src.length) as NumData;
      for (let i = 0; i < src.length; i++) out[i] = src[i] > threshold ? 1 : 0;
      return [{ type: t, dims: x!.dims, data: out }];
    },
  };
};

const arrayFeatureExtractor: OpCompiler = (ctx) => {
  ctx.attrs([]);
  const t = requireTypes(ctx, 0, [...NUMBERS, 'string']);
  requireTypes(ctx, 1, ['int64']);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x, ind]) => {
      const idx = Array.from(ind!.data as NumData);
      const last = x!.dims[x!.dims.length - 1];
      for (const i of idx) if (i < 0 || i >= last) throw new Error(`${at}: index ${i} out of range for ${last}`);
      const outer = x!.data.length / last;
      const out = alloc(t, outer * idx.length);
      for (let o = 0; o < outer; o++) for (let j = 0; j < idx.length; j++) out[o * idx.length + j] = x!.data[o * last + idx[j]];
      const dims = x!.dims.length === 1 ? [1, idx.length] : [...x!.dims.slice(0, -1), idx.length];
      return [{ type: t, dims, data: out }];
    },
  };
};

const featureVectorizer: OpCompiler = (ctx) => {
  const dimsIn = ctx.attrs(['inputdimensions']).nums('inputdimensions') ?? [];
  ctx.types.forEach((_, i) => requireTypes(ctx, i, NUMBERS));
  if (dimsIn.length !== ctx.types.length) throw new Unsupported(`${where(ctx)}: ${dimsIn.length} input dimensions for ${ctx.types.length} inputs`);
  const total = dimsIn.reduce((p, q) => p + q, 0);
  return {
    types: ['float'],
    kernel: (ins) => {
      const rows = rowsCols(ins[0]!)[0];
      const out = new Float32Array(rows * total);
      let col = 0;
      ins.forEach((x, k) => {
        const [, cols] = rowsCols(x!);
        const src = x!.data as NumData;
        const w = dimsIn[k];
        for (let r = 0; r < rows; r++) for (let j = 0; j < Math.min(w, cols); j++) out[r * total + col + j] = src[r * cols + j];
        col += w;
      });
      return [{ type: 'float', dims: [rows, total], data: out }];
    },
  };
};

/** X · Wᵀ + b, summed in double and rounded once to float (onnxruntime's GEMM sums in float; the load check bounds the difference). */
function linear(x: Tensor, coef: Float32Array, bias: Float32Array, targets: number, at: string): { rows: number; scores: Float64Array } {
  const [rows, cols] = rowsCols(x);
  if (coef.length !== targets * cols) throw new Error(`${at}: ${coef.length} coefficients for ${targets} targets of ${cols} features`);
  const src = x.data as NumData;
  const scores = new Float64Array(rows * targets);
  for (let r = 0; r < rows; r++)
    for (let t = 0; t < targets; t++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += fround(src[r * cols + j]) * coef[t * cols + j];
      scores[r * targets + t] = fround(s + bias[t]);
    }
  return { rows, scores };
}

const linearRegressor: OpCompiler = (ctx) => {
  const a = ctx.attrs(['coefficients', 'intercepts', 'targets', 'post_transform']);
  requireTypes(ctx, 0, NUMBERS);
  const targets = a.int('targets', 1);
  const coef = Float32Array.from(a.nums('coefficients') ?? []);
  const bias = Float32Array.from(a.nums('intercepts') ?? new Array<number>(targets).fill(0));
  const post = postTransform(a.str('post_transform', 'NONE'), a.where);
  if (post && targets === 1) throw new Unsupported(`${a.where}: a post_transform on one target is not compiled`);
  const at = where(ctx);
  return {
    bytes: coef.byteLength + bias.byteLength,
    types: ['float'],
    kernel: ([x]) => {
      const { rows, scores } = linear(x!, coef, bias, targets, at);
      if (post) for (let r = 0; r < rows; r++) post(scores.subarray(r * targets, (r + 1) * targets));
      return [{ type: 'float', dims: [rows, targets], data: Float32Array.from(scores) }];
    },
  };
};

const linearClassifier: OpCompiler = (ctx) => {
  const a = ctx.attrs(['coefficients', 'intercepts', 'classlabels_strings', 'classlabels_ints', 'multi_class', 'post_transform']);
  requireTypes(ctx, 0, NUMBERS);
  const bias = Float32Array.from(a.nums('intercepts') ?? []);
  const coef = Float32Array.from(a.nums('coefficients') ?? []);
  const labels: (string | number)[] = a.strs('classlabels_strings') ?? a.nums('classlabels_ints') ?? [];
  const labelType: DType = a.has('classlabels_strings') ? 'string' : 'int64';
  const kind = a.str('post_transform', 'NONE');
  const post = postTransform(kind, a.where);
  const classes = bias.length;
  if (!classes) throw new Unsupported(`${a.where}: no intercepts`);
  const secondClass = classes === 1 && labels.length === 2;
  if (classes === 1 && !secondClass) throw new Unsupported(`${a.where}: one score without two class labels is not compiled`);
  if (secondClass && kind !== 'NONE' && kind !== 'LOGISTIC') throw new Unsupported(`${a.where}: post_transform ${kind} on one score is not compiled`);
  const at = where(ctx);
  return {
    bytes: coef.byteLength + bias.byteLength,
    types: [labelType, 'float'],
    kernel: ([x]) => {
      const { rows, scores } = linear(x!, coef, bias, classes, at);
      const width = secondClass ? 2 : classes;
      const z = new Float32Array(rows * width);
      const y = alloc(labelType, rows);
      for (let r = 0; r < rows; r++) {
        const s = scores.subarray(r * classes, (r + 1) * classes);
        if (secondClass) {
          y[r] = s[0] > 0 ? labels[1] : labels[0];
          const p = kind === 'LOGISTIC' ? logistic(s[0]) : s[0];
          z[r * 2] = fround(1 - p);
          z[r * 2 + 1] = p;
          continue;
        }
        let best = 0;
        for (let j = 1; j < classes; j++) if (s[j] > s[best]) best = j;
        y[r] = labels.length ? labels[best] : best;
        post?.(s);
        z.set(s, r * classes);
      }
      return [
        { type: labelType, dims: [rows], data: y },
        { type: 'float', dims: [rows, width], data: z },
      ];
    },
  };
};

export const ML_OPS: Record<string, OpCompiler> = {
  Imputer: imputer,
  Scaler: scaler,
  Normalizer: normalizer,
  OneHotEncoder: oneHot,
  LabelEncoder: labelEncoder,
  Binarizer: binarizer,
  ArrayFeatureExtractor: arrayFeatureExtractor,
  FeatureVectorizer: featureVectorizer,
  LinearRegressor: linearRegressor,
  LinearClassifier: linearClassifier,
};
