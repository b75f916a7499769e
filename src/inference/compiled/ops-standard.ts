import type { CompiledOp, OpCompiler, OpContext } from './op.js';
import { FLOATS, NUMBERS, requireTypes } from './op.js';
import { alloc, axisOf, broadcast, FLOAT32_MAX, numeric, sameDims, Scratch, sizeOf, stridesOf, Unsupported, type DType, type NumData, type Tensor } from './tensor.js';

const where = (ctx: OpContext) => `${ctx.node.op} ${ctx.node.name}`;

/** Elementwise over broadcast inputs; `type` is the output type. */
function elementwise(ins: Tensor[], type: DType, f: (...v: number[]) => number, at: string): Tensor {
  if (ins.length === 2 && ins[0].dims.length === ins[1].dims.length && ins[0].dims.every((d, i) => d === ins[1].dims[i])) {
    const a = ins[0].data as NumData;
    const b = ins[1].data as NumData;
    const out = alloc(type, a.length) as NumData;
    for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
    return { type, dims: ins[0].dims, data: out };
  }
  const { dims, maps } = broadcast(
    ins.map((t) => t.dims),
    at,
  );
  const n = sizeOf(dims);
  const out = alloc(type, n) as NumData;
  const datas = ins.map((t) => t.data as NumData);
  const args = new Array<number>(ins.length);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < ins.length; j++) {
      const m = maps[j];
      args[j] = datas[j][m ? m[k] : k];
    }
    out[k] = f(...args);
  }
  return { type, dims, data: out };
}

function binary(f: (a: number, b: number) => number, intF?: (a: number, b: number) => number): OpCompiler {
  return (ctx) => {
    ctx.attrs([]);
    const t = requireTypes(ctx, 0, NUMBERS);
    if (requireTypes(ctx, 1, NUMBERS) !== t) throw new Unsupported(`${where(ctx)}: inputs of different types (${t}, ${ctx.types[1]})`);
    const g = t === 'int64' || t === 'int32' ? (intF ?? f) : f;
    const at = where(ctx);
    return { types: [t], kernel: ([a, b]) => [elementwise([a!, b!], t, g, at)] };
  };
}

function compare(f: (a: number, b: number) => boolean): OpCompiler {
  return (ctx) => {
    ctx.attrs([]);
    const t = requireTypes(ctx, 0, [...NUMBERS, 'bool']);
    if (ctx.types[1] !== t) throw new Unsupported(`${where(ctx)}: inputs of different types (${t}, ${ctx.types[1]})`);
    const at = where(ctx);
    return { types: ['bool'], kernel: ([a, b]) => [elementwise([a!, b!], 'bool', (x, y) => (f(x, y) ? 1 : 0), at)] };
  };
}

function logical(f: (a: number, b: number) => number): OpCompiler {
  return (ctx) => {
    ctx.attrs([]);
    requireTypes(ctx, 0, ['bool']);
    requireTypes(ctx, 1, ['bool']);
    const at = where(ctx);
    return { types: ['bool'], kernel: ([a, b]) => [elementwise([a!, b!], 'bool', f, at)] };
  };
}

/** f on every element of one input, into an `o` tensor of its shape. */
function mapped(o: DType, f: (x: number) => number): CompiledOp {
  return {
    types: [o],
    kernel: ([x]) => {
      const a = x!.data as NumData;
      const out = alloc(o, a.length) as NumData;
      for (let i = 0; i < a.length; i++) out[i] = f(a[i]);
      return [{ type: o, dims: x!.dims, data: out }];
    },
  };
}

function unary(types: readonly DType[], outType: (t: DType) => DType, f: (x: number) => number): OpCompiler {
  return (ctx) => {
    ctx.attrs([]);
    return mapped(outType(requireTypes(ctx, 0, types)), f);
  };
}

/** Rounding to the element type after each step, where onnxruntime computes in float32. */
const rounding = (t: DType): ((v: number) => number) => (t === 'float' ? Math.fround : (v) => v);

/** Integer list from a compile-time constant input or an attribute, per opset. */
function intsFrom(ctx: OpContext, input: number, attr: string, fromOpset: number): number[] | undefined {
  if (ctx.opset >= fromOpset) {
    if (ctx.node.inputs[input] === undefined || ctx.node.inputs[input] === '') return undefined;
    const c = ctx.constant(input);
    if (!c) throw new Unsupported(`${where(ctx)}: input ${input} (${attr}) is computed at run time; only constant ${attr} are compiled`);
    return Array.from(c.data as NumData);
  }
  return ctx.attrs([attr, 'keepdims', 'noop_with_empty_axes', 'axis', 'select_last_index']).nums(attr);
}

const identity: OpCompiler = (ctx) => {
  ctx.attrs([]);
  return { types: [requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string'])], kernel: ([x]) => [x!] };
};

const CAST_TO: Record<number, DType> = { 1: 'float', 11: 'double', 7: 'int64', 6: 'int32', 9: 'bool' };

const cast: OpCompiler = (ctx) => {
  const a = ctx.attrs(['to', 'saturate']);
  const to = CAST_TO[a.int('to')];
  const from = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  if (!to) throw new Unsupported(`${a.where}: cast to element type ${a.int('to')} is not compiled`);
  if (from === 'string') throw new Unsupported(`${a.where}: casting strings to numbers is not compiled`);
  return mapped(to, to === 'bool' ? (v) => (v !== 0 ? 1 : 0) : to === 'int64' || to === 'int32' ? (v) => Math.trunc(v) : (v) => v);
};

const reshape: OpCompiler = (ctx) => {
  const a = ctx.attrs(['allowzero']);
  const allowZero = a.int('allowzero', 0) === 1;
  const t = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  requireTypes(ctx, 1, ['int64']);
  const at = where(ctx);
  const fixed = ctx.constant(1);
  const fixedDims = fixed && Array.from(fixed.data as NumData).every((d) => d > 0) ? Array.from(fixed.data as NumData) : undefined;
  // A constant shape with -1 or 0 in it: the last input shape and what it resolved to (a
  // server's batches repeat a few shapes, so this is usually all a run needs).
  let lastIn: number[] | undefined;
  let lastOut: number[] | undefined;
  return {
    types: [t],
    kernel: ([x, shape]) => {
      if (fixedDims && sizeOf(fixedDims) === x!.data.length) return [{ type: x!.type, dims: fixedDims, data: x!.data }];
      if (lastIn && sameDims(lastIn, x!.dims)) return [{ type: x!.type, dims: lastOut!, data: x!.data }];
      const want = Array.from(shape!.data as NumData);
      const dims = want.map((d, i) => (d === 0 && !allowZero ? x!.dims[i] : d));
      const known = dims.reduce((p, d) => (d === -1 ? p : p * d), 1);
      const n = sizeOf(x!.dims);
      const out = dims.map((d) => (d === -1 ? n / known : d));
      if (sizeOf(out) !== n) throw new Error(`${at}: cannot reshape [${x!.dims.join(',')}] to [${want.join(',')}]`);
      if (fixed) {
        lastIn = x!.dims.slice();
        lastOut = out;
      }
      return [{ type: x!.type, dims: out, data: x!.data }];
    },
  };
};

const concat: OpCompiler = (ctx) => {
  const axis = ctx.attrs(['axis']).int('axis');
  const t = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  ctx.types.forEach((u, i) => {
    if (u !== t) throw new Unsupported(`${where(ctx)}: input ${i} is ${u}, input 0 is ${t}`);
  });
  const at = where(ctx);
  const buf = t === 'string' ? undefined : new Scratch(t);
  return {
    types: [t],
    fusion: { kind: 'concat', axis },
    kernel: (ins) => {
      const xs = ins as Tensor[];
      const rank = xs[0].dims.length;
      const ax = axisOf(axis, rank, at);
      let outer = 1;
      for (let d = 0; d < ax; d++) outer *= xs[0].dims[d];
      let total = 0;
      let along = 0;
      for (const x of xs) {
        total += x.data.length / outer;
        along += x.dims[ax];
      }
      const dims = xs[0].dims.slice();
      dims[ax] = along;
      const out = buf ? buf.get(outer * total) : alloc(t, outer * total);
      let col = 0;
      for (const x of xs) {
        const w = x.data.length / outer;
        // TypedArray.set is a call into C++ that costs more than copying a few values.
        if (outer === 1 && buf && w > 16) (out as NumData).set(x.data as NumData, col);
        else for (let o = 0; o < outer; o++) for (let i = 0; i < w; i++) out[o * total + col + i] = x.data[o * w + i];
        col += w;
      }
      return [{ type: t, dims, data: out }];
    },
  };
};

const matmulLike = (a: NumData, b: NumData, m: number, k: number, n: number, type: DType, transA = false, transB = false, alpha = 1): NumData => {
  const out = alloc(type, m * n) as NumData;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = alpha * s;
    }
  }
  return out;
};

const matmul: OpCompiler = (ctx) => {
  ctx.attrs([]);
  const t = requireTypes(ctx, 0, FLOATS);
  if (ctx.types[1] !== t) throw new Unsupported(`${where(ctx)}: inputs of different types`);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x, w]) => {
      const xd = x!.dims;
      const wd = w!.dims;
      if (xd.length > 2 || wd.length > 2 || xd.length === 0 || wd.length === 0) throw new Error(`${at}: batched MatMul is not compiled`);
      const m = xd.length === 2 ? xd[0] : 1;
      const k = xd[xd.length - 1];
      const n = wd.length === 2 ? wd[1] : 1;
      if ((wd.length === 2 ? wd[0] : wd[0]) !== k) throw new Error(`${at}: [${xd.join(',')}] × [${wd.join(',')}]`);
      const data = matmulLike(x!.data as NumData, w!.data as NumData, m, k, n, t);
      const dims = [...(xd.length === 2 ? [m] : []), ...(wd.length === 2 ? [n] : [])];
      return [{ type: t, dims, data }];
    },
  };
};

const gemm: OpCompiler = (ctx) => {
  const a = ctx.attrs(['alpha', 'beta', 'transA', 'transB']);
  const alpha = a.float('alpha', 1);
  const beta = a.float('beta', 1);
  const transA = a.int('transA', 0) === 1;
  const transB = a.int('transB', 0) === 1;
  const t = requireTypes(ctx, 0, FLOATS);
  if (ctx.types[1] !== t || (ctx.types[2] !== undefined && ctx.types[2] !== t)) throw new Unsupported(`${where(ctx)}: inputs of different types`);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x, w, c]) => {
      const [m, k] = transA ? [x!.dims[1], x!.dims[0]] : [x!.dims[0], x!.dims[1]];
      const n = transB ? w!.dims[0] : w!.dims[1];
      if ((transB ? w!.dims[1] : w!.dims[0]) !== k) throw new Error(`${at}: inner dimensions differ`);
      const out = matmulLike(x!.data as NumData, w!.data as NumData, m, k, n, 'double', transA, transB, alpha);
      if (c && beta !== 0) {
        const { maps } = broadcast([c.dims, [m, n]], at);
        const cd = c.data as NumData;
        for (let i = 0; i < m * n; i++) out[i] += beta * cd[maps[0] ? maps[0][i] : i];
      }
      const data = alloc(t, m * n) as NumData;
      data.set(out);
      return [{ type: t, dims: [m, n], data }];
    },
  };
};

const sigmoid = unary(
  FLOATS,
  (t) => t,
  (x) => 1 / (1 + Math.exp(-x)),
);

const softmax: OpCompiler = (ctx) => {
  const a = ctx.attrs(['axis']);
  const axis = a.int('axis', ctx.opset >= 13 ? -1 : 1);
  const t = requireTypes(ctx, 0, FLOATS);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x]) => {
      const rank = x!.dims.length;
      const ax = axisOf(axis, rank, at);
      // Before opset 13 the input is flattened to 2-D at the axis; from 13 the axis alone is normalised.
      const outer = sizeOf(x!.dims.slice(0, ax));
      const len = ctx.opset >= 13 ? x!.dims[ax] : sizeOf(x!.dims.slice(ax));
      const inner = ctx.opset >= 13 ? sizeOf(x!.dims.slice(ax + 1)) : 1;
      const src = x!.data as NumData;
      const out = alloc(t, src.length) as NumData;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * len * inner + i;
          let max = -Infinity;
          for (let j = 0; j < len; j++) max = Math.max(max, src[base + j * inner]);
          let sum = 0;
          for (let j = 0; j < len; j++) sum += Math.exp(src[base + j * inner] - max);
          for (let j = 0; j < len; j++) out[base + j * inner] = Math.exp(src[base + j * inner] - max) / sum;
        }
      }
      return [{ type: t, dims: x!.dims, data: out }];
    },
  };
};

const whereOp: OpCompiler = (ctx) => {
  ctx.attrs([]);
  requireTypes(ctx, 0, ['bool']);
  const t = requireTypes(ctx, 1, [...NUMBERS, 'bool']);
  if (ctx.types[2] !== t) throw new Unsupported(`${where(ctx)}: branches of different types`);
  const at = where(ctx);
  return { types: [t], kernel: ([c, x, y]) => [elementwise([c!, x!, y!], t, (k, a, b) => (k ? a : b), at)] };
};

/** Copies the elements at the given per-axis index lists (Gather and Slice both reduce to this). */
function take(x: Tensor, picks: number[][]): Tensor {
  const dims = picks.map((p) => p.length);
  const n = sizeOf(dims);
  const out = alloc(x.type, n);
  const st = stridesOf(x.dims);
  const rank = dims.length;
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < n; k++) {
    let off = 0;
    for (let j = 0; j < rank; j++) off += picks[j][idx[j]] * st[j];
    out[k] = x.data[off];
    for (let j = rank - 1; j >= 0; j--) {
      if (++idx[j] < dims[j]) break;
      idx[j] = 0;
    }
  }
  return { type: x.type, dims, data: out };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

const gather: OpCompiler = (ctx) => {
  const axis = ctx.attrs(['axis']).int('axis', 0);
  const t = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  requireTypes(ctx, 1, ['int64', 'int32']);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x, ind]) => {
      const ax = axisOf(axis, x!.dims.length, at);
      const size = x!.dims[ax];
      const idx = Array.from(ind!.data as NumData, (i) => {
        const j = i < 0 ? i + size : i;
        if (j < 0 || j >= size) throw new Error(`${at}: index ${i} out of range for ${size}`);
        return j;
      });
      const picked = take(
        x!,
        x!.dims.map((d, j) => (j === ax ? idx : range(d))),
      );
      return [{ ...picked, dims: [...x!.dims.slice(0, ax), ...ind!.dims, ...x!.dims.slice(ax + 1)] }];
    },
  };
};

const slice: OpCompiler = (ctx) => {
  const t = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  let spec: { starts: number[]; ends: number[]; axes?: number[]; steps?: number[] };
  if (ctx.opset >= 10) {
    ctx.attrs([]);
    const get = (i: number) => intsFrom(ctx, i, ['starts', 'ends', 'axes', 'steps'][i - 1], 10);
    spec = { starts: get(1)!, ends: get(2)!, axes: get(3), steps: get(4) };
  } else {
    const a = ctx.attrs(['starts', 'ends', 'axes']);
    spec = { starts: a.nums('starts')!, ends: a.nums('ends')!, axes: a.nums('axes') };
  }
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x]) => {
      const picks = x!.dims.map((d) => range(d));
      spec.starts.forEach((s0, i) => {
        const ax = axisOf(spec.axes?.[i] ?? i, x!.dims.length, at);
        const d = x!.dims[ax];
        const step = spec.steps?.[i] ?? 1;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const p: number[] = [];
        if (step > 0) for (let j = clamp(s0, 0, d), e = clamp(spec.ends[i], 0, d); j < e; j += step) p.push(j);
        else for (let j = clamp(s0, -1, d - 1), e = clamp(spec.ends[i], -1, d - 1); j > e; j += step) p.push(j);
        picks[ax] = p;
      });
      return [take(x!, picks)];
    },
  };
};

function squeezeLike(kind: 'Squeeze' | 'Unsqueeze'): OpCompiler {
  return (ctx) => {
    const axes = ctx.opset >= 13 ? (ctx.attrs([]), intsFrom(ctx, 1, 'axes', 13)) : ctx.attrs(['axes']).nums('axes');
    const t = requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
    const at = where(ctx);
    return {
      types: [t],
      kernel: ([x]) => {
        let dims: number[];
        if (kind === 'Squeeze') {
          const drop = new Set((axes ?? x!.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(a, x!.dims.length, at)));
          dims = x!.dims.filter((_, i) => !drop.has(i));
        } else {
          const rank = x!.dims.length + (axes?.length ?? 0);
          const add = new Set((axes ?? []).map((a) => axisOf(a, rank, at)));
          const rest = [...x!.dims];
          dims = range(rank).map((i) => (add.has(i) ? 1 : rest.shift()!));
        }
        return [{ type: x!.type, dims, data: x!.data }];
      },
    };
  };
}

const shape: OpCompiler = (ctx) => {
  const a = ctx.attrs(['start', 'end']);
  requireTypes(ctx, 0, [...NUMBERS, 'bool', 'string']);
  return {
    types: ['int64'],
    kernel: ([x]) => {
      const r = x!.dims.length;
      const norm = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      const dims = x!.dims.slice(norm(a.int('start', 0)), norm(a.int('end', r)));
      return [{ type: 'int64', dims: [dims.length], data: Float64Array.from(dims) }];
    },
  };
};

/** Reduction over axes of a numeric tensor (ReduceSum; ArgMax reduces one axis to an index). */
function reduceAxes(
  x: Tensor,
  axes: number[],
  keepdims: boolean,
  at: string,
  type: DType,
  init: number,
  step: (acc: number, v: number, j: number) => number,
  fin: (acc: number) => number = (a) => a,
): Tensor {
  const rank = x.dims.length;
  const set = new Set(axes.map((a) => axisOf(a, rank, at)));
  const outDims = x.dims.map((d, i) => (set.has(i) ? 1 : d));
  const n = sizeOf(outDims);
  const acc = new Float64Array(n).fill(init);
  const outSt = stridesOf(outDims);
  const src = numeric(x, at).data;
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < src.length; k++) {
    let o = 0;
    let j = 0;
    for (let a = 0; a < rank; a++) {
      if (set.has(a)) j = idx[a];
      else o += idx[a] * outSt[a];
    }
    acc[o] = step(acc[o], src[k], j);
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < x.dims[a]) break;
      idx[a] = 0;
    }
  }
  const data = alloc(type, n) as NumData;
  for (let i = 0; i < n; i++) data[i] = fin(acc[i]);
  return { type, dims: keepdims ? outDims : x.dims.filter((_, i) => !set.has(i)), data };
}

const reduceSum: OpCompiler = (ctx) => {
  const a = ctx.attrs(['axes', 'keepdims', 'noop_with_empty_axes']);
  const axes = ctx.opset >= 13 ? intsFrom(ctx, 1, 'axes', 13) : a.nums('axes');
  const keep = a.int('keepdims', 1) === 1;
  const noop = a.int('noop_with_empty_axes', 0) === 1;
  const t = requireTypes(ctx, 0, NUMBERS);
  const at = where(ctx);
  return {
    types: [t],
    kernel: ([x]) => {
      if (!axes?.length && noop) return [x!];
      const all = axes?.length ? axes : range(x!.dims.length);
      return [reduceAxes(x!, all, keep, at, t, 0, (s, v) => s + v)];
    },
  };
};

const argMax: OpCompiler = (ctx) => {
  const a = ctx.attrs(['axis', 'keepdims', 'select_last_index']);
  const axis = a.int('axis', 0);
  const keep = a.int('keepdims', 1) === 1;
  const last = a.int('select_last_index', 0) === 1;
  requireTypes(ctx, 0, NUMBERS);
  const at = where(ctx);
  return {
    types: ['int64'],
    kernel: ([x]) => {
      const ax = axisOf(axis, x!.dims.length, at);
      const len = x!.dims[ax];
      const inner = sizeOf(x!.dims.slice(ax + 1));
      const outer = sizeOf(x!.dims.slice(0, ax));
      const src = x!.data as NumData;
      const out = new Float64Array(outer * inner);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let best = 0;
          for (let j = 1; j < len; j++) {
            const v = src[(o * len + j) * inner + i];
            const b = src[(o * len + best) * inner + i];
            if (v > b || (last && v === b)) best = j;
          }
          out[o * inner + i] = best;
        }
      const dims = keep ? x!.dims.map((d, i) => (i === ax ? 1 : d)) : x!.dims.filter((_, i) => i !== ax);
      return [{ type: 'int64', dims, data: out }];
    },
  };
};

/** Sum of any number of inputs, broadcast and added left to right in the output type, as onnxruntime accumulates them. */
const sum: OpCompiler = (ctx) => {
  ctx.attrs([]);
  const t = requireTypes(ctx, 0, NUMBERS);
  for (let i = 1; i < ctx.types.length; i++) if (requireTypes(ctx, i, NUMBERS) !== t) throw new Unsupported(`${where(ctx)}: inputs of different types (${t}, ${ctx.types[i]})`);
  const at = where(ctx);
  return {
    types: [t],
    kernel: (xs) => {
      let acc = xs[0]!;
      for (let i = 1; i < xs.length; i++) acc = elementwise([acc, xs[i]!], t, (a, b) => a + b, at);
      return [acc];
    },
  };
};

/** A float32 bound of Clip: a constant scalar input (opset 11+) or an attribute; `none` where it is omitted. */
function clipBound(ctx: OpContext, input: number, attr: string, none: number): number {
  if (ctx.opset < 11) return ctx.attrs(['min', 'max']).float(attr, none);
  if (ctx.node.inputs[input] === undefined || ctx.node.inputs[input] === '') return none;
  const c = ctx.constant(input);
  if (!c || (c.data as NumData).length !== 1) throw new Unsupported(`${where(ctx)}: ${attr} is computed at run time; only a constant ${attr} is compiled`);
  return (c.data as NumData)[0];
}

const clip: OpCompiler = (ctx) => {
  if (ctx.opset >= 11) ctx.attrs([]);
  const t = requireTypes(ctx, 0, FLOATS);
  // An omitted bound is the type's lowest or largest finite value, not ±∞: onnxruntime clips a float -∞ to -3.4e38.
  const limit = t === 'float' ? FLOAT32_MAX : Number.MAX_VALUE;
  const lo = clipBound(ctx, 1, 'min', -limit);
  const hi = clipBound(ctx, 2, 'max', limit);
  // min(max(x, lo), hi) as std::max/std::min compare: a NaN input stays NaN.
  return mapped(t, (x) => (x < lo ? lo : x > hi ? hi : x));
};

/**
 * ReduceLogSumExp over the last axis (scikit-learn's GaussianNB normalises its joint
 * log-likelihoods so): max + log Σ exp(x - max), in float32 steps as onnxruntime takes them.
 */
const reduceLogSumExp: OpCompiler = (ctx) => {
  const a = ctx.attrs(['axes', 'keepdims']);
  if (ctx.opset >= 18) throw new Unsupported(`${where(ctx)}: axes as an input (opset 18) is not compiled`);
  const axes = a.nums('axes');
  const keep = a.int('keepdims', 1) === 1;
  const t = requireTypes(ctx, 0, FLOATS);
  const at = where(ctx);
  const r = rounding(t);
  return {
    types: [t],
    kernel: ([x]) => {
      const rank = x!.dims.length;
      if (axes?.length !== 1 || axisOf(axes[0], rank, at) !== rank - 1) throw new Unsupported(`${at}: only the last axis is compiled`);
      const len = x!.dims[rank - 1];
      const src = x!.data as NumData;
      const outer = src.length / Math.max(1, len);
      const out = alloc(t, outer) as NumData;
      for (let o = 0; o < outer; o++) {
        // The largest finite value: an infinite or NaN one is left out of it, as onnxruntime's aggregator does.
        let max = -Infinity;
        for (let j = 0; j < len; j++) {
          const v = src[o * len + j];
          if (Number.isFinite(v) && v > max) max = v;
        }
        if (max === -Infinity) max = 0;
        let sum = 0;
        for (let j = 0; j < len; j++) sum = r(sum + r(Math.exp(r(src[o * len + j] - max))));
        out[o] = r(r(Math.log(sum)) + max);
      }
      return [{ type: t, dims: keep ? x!.dims.map((d, i) => (i === rank - 1 ? 1 : d)) : x!.dims.slice(0, -1), data: out }];
    },
  };
};

/** Pow by a constant exponent: 2 and 3 as products (as onnxruntime special-cases them), others by pow. */
const pow: OpCompiler = (ctx) => {
  ctx.attrs([]);
  const t = requireTypes(ctx, 0, FLOATS);
  const e = ctx.constant(1);
  if (!e || (e.data as NumData).length !== 1) throw new Unsupported(`${where(ctx)}: only a constant scalar exponent is compiled`);
  const k = (e.data as NumData)[0];
  const r = rounding(t);
  return mapped(t, k === 2 ? (x) => x * x : k === 3 ? (x) => r(x * x) * x : (x) => Math.pow(x, k));
};

export const STANDARD_OPS: Record<string, OpCompiler> = {
  Identity: identity,
  Cast: cast,
  Reshape: reshape,
  Concat: concat,
  MatMul: matmul,
  Gemm: gemm,
  Sigmoid: sigmoid,
  Softmax: softmax,
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary(
    (a, b) => a / b,
    (a, b) => Math.trunc(a / b),
  ),
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  Greater: compare((a, b) => a > b),
  LessOrEqual: compare((a, b) => a <= b),
  GreaterOrEqual: compare((a, b) => a >= b),
  And: logical((a, b) => (a && b ? 1 : 0)),
  Or: logical((a, b) => (a || b ? 1 : 0)),
  Not: unary(
    ['bool'],
    () => 'bool',
    (x) => (x ? 0 : 1),
  ),
  IsNaN: unary(
    FLOATS,
    () => 'bool',
    (x) => (Number.isNaN(x) ? 1 : 0),
  ),
  Relu: unary(
    FLOATS,
    (t) => t,
    (x) => (x < 0 ? 0 : x),
  ),
  Exp: unary(FLOATS, (t) => t, Math.exp),
  Log: unary(FLOATS, (t) => t, Math.log),
  Sum: sum,
  Clip: clip,
  Pow: pow,
  ReduceLogSumExp: reduceLogSumExp,
  Where: whereOp,
  Gather: gather,
  Slice: slice,
  Squeeze: squeezeLike('Squeeze'),
  Unsqueeze: squeezeLike('Unsqueeze'),
  Shape: shape,
  ReduceSum: reduceSum,
  ArgMax: argMax,
};
