import type { Attrs } from './graph.js';
import type { OpCompiler, OpContext } from './op.js';
import { NUMBERS, requireTypes } from './op.js';
import { logistic, postTransform } from './ops-ml.js';
import { alloc, Scratch, sizeFrom, Unsupported, type DType, type NumData } from './tensor.js';

const fround = Math.fround;

const MODES = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ', 'LEAF'] as const;
const LEQ = 0;
const LEAF = 6;

/** Nodes flattened between two steps of the compile (each a chance for the caller to let requests through). */
const STEP_MASK = 0x3fff;

/** Largest ensemble compiled (nodes); larger ones serve on onnxruntime. */
export const MAX_TREE_NODES = 4_000_000;

/**
 * A tree ensemble as flat typed arrays, walked the way onnxruntime's TreeEnsemble kernels walk
 * it: thresholds are float32 values (or double from *_as_tensor), a row's value is compared as
 * read, NaN takes the true branch only where missing_value_tracks_true says so, and a leaf's
 * weights are summed per target in float32 (double when the input is double), tree by tree.
 */
interface Flat {
  feature: Int32Array;
  /** float32 thresholds (or double from *_as_tensor / double inputs), kept at their own width. */
  threshold: Float32Array | Float64Array;
  mode: Uint8Array;
  next: Int32Array; // [true, false] per node
  missingTrue: Uint8Array;
  leafStart: Int32Array;
  leafEnd: Int32Array;
  weightTarget: Int32Array;
  weightValue: Float32Array | Float64Array;
  roots: Int32Array;
  allLeq: boolean;
  maxFeature: number;
  /** The leaf each tree reached for the current row. */
  leaves: Int32Array;
  /** Generated code for the walks, when the ensemble is small enough to generate (see generateCode). */
  walkers?: ((x: NumData, base: number, leaves: Int32Array) => void)[];
  /** Generated code that sums the trees itself, when every leaf adds one weight to one target. */
  summers?: { target: number; run: ((x: NumData, base: number, sum: number) => number)[] };
  /** Length of the generated source (its compiled code takes about as much again). */
  codeChars: number;
}

/** Memory the flattened ensemble holds. */
function flatBytes(f: Flat): number {
  const arrays = [f.feature, f.threshold, f.mode, f.next, f.missingTrue, f.leafStart, f.leafEnd, f.weightTarget, f.weightValue, f.roots, f.leaves];
  return arrays.reduce((n, a) => n + a.byteLength, 0) + 2 * f.codeChars;
}

const OPS = ['<=', '<', '>=', '>', '===', '!=='];
/** Nodes per generated function: small enough for V8 to optimise each one. */
const NODES_PER_FUNCTION = 2_000;
/** Ensembles above this many nodes are walked from the flat arrays instead. */
const MAX_GENERATED_NODES = 100_000;
/** Average nodes per tree above which walking the flat arrays is faster (measured on a depth-12 forest). */
const MAX_GENERATED_TREE_NODES = 256;

/**
 * Each tree as one nested conditional expression giving its leaf's index: V8 compiles the
 * constants into the comparisons, several times faster than walking the arrays. Only numbers
 * from the graph's typed arrays are written into the code (feature indices, thresholds and
 * weights as their exact shortest representation, node indices), so no text from the model
 * reaches it.
 *
 * When every leaf carries exactly one weight, all for the same target (binary GBDTs,
 * regressors), the expression gives the leaf's weight instead and the code adds it to the sum
 * itself, tree by tree in order (rounded to float32 after each addition unless `wide`): the
 * same sum as sumTrees' loop, without storing and reading back each tree's leaf.
 */
function* generateCode(f: Flat, wide: boolean): Generator<void, void> {
  // Deep trees (forests) gain nothing: their code no longer fits the instruction cache.
  if (f.mode.length > MAX_GENERATED_NODES || f.mode.length / f.roots.length > MAX_GENERATED_TREE_NODES) return;
  const target = singleTarget(f);
  const literal = (v: number) => (Object.is(v, -0) ? '(-0)' : `(${String(v)})`);
  const leaf = target === undefined ? (i: number) => String(i) : (i: number) => literal(f.weightValue[f.leafStart[i]]);
  const expr = (i: number): string => {
    const m = f.mode[i];
    if (m === LEAF) return leaf(i);
    const v = `x[b+${f.feature[i]}]`;
    const t = f.threshold[i];
    const cmp = Number.isNaN(t) ? 'false' : `${v}${OPS[m]}${Object.is(t, -0) ? '0' : String(t)}`;
    const test = f.missingTrue[i] ? `(${cmp}||${v}!==${v})` : cmp;
    return `(${test}?${expr(f.next[2 * i])}:${expr(f.next[2 * i + 1])})`;
  };
  const walkers: NonNullable<Flat['walkers']> = [];
  const summers: ((x: NumData, b: number, s: number) => number)[] = [];
  let body: string[] = [];
  let nodes = 0;
  const flush = () => {
    if (!body.length) return;
    if (target === undefined) {
      const source = `"use strict";${body.join('')}`;
      f.codeChars += source.length;
      walkers.push(new Function('x', 'b', 'l', source) as NonNullable<Flat['walkers']>[number]);
    } else {
      const source = `"use strict";const fr=Math.fround;let s=a;${body.join('')}return s;`;
      f.codeChars += source.length;
      summers.push(new Function('x', 'b', 'a', source) as (typeof summers)[number]);
    }
    body = [];
    nodes = 0;
  };
  for (let t = 0; t < f.roots.length; t++) {
    const start = f.roots[t];
    const end = t + 1 < f.roots.length ? f.roots[t + 1] : f.mode.length;
    if (target === undefined) body.push(`l[${t}]=${expr(start)};`);
    else body.push(wide ? `s=s+${expr(start)};` : `s=fr(s+${expr(start)});`);
    nodes += end - start;
    if (nodes >= NODES_PER_FUNCTION) {
      flush();
      yield;
    }
  }
  flush();
  if (target === undefined) f.walkers = walkers;
  else f.summers = { target, run: summers };
}

/** The one target every leaf adds its one weight to, or undefined. */
function singleTarget(f: Flat): number | undefined {
  let target: number | undefined;
  for (let i = 0; i < f.mode.length; i++) {
    if (f.mode[i] !== LEAF) continue;
    if (f.leafEnd[i] - f.leafStart[i] !== 1) return undefined;
    const k = f.weightTarget[f.leafStart[i]];
    if (target === undefined) target = k;
    else if (k !== target) return undefined;
  }
  return target;
}

/**
 * Where each (tree id, node id) sits in the node lists. Ids are small and dense in every
 * exporter's output, so a typed array indexed by tree × stride + node serves; a Map keyed by a
 * string per node took a quarter of a 75,000-node forest's compile. Ids that do not fit (huge,
 * negative or sparse) use the Map.
 */
function nodeIndex(treeIds: ArrayLike<number>, nodeIds: ArrayLike<number>): (tree: number, node: number) => number | undefined {
  const n = treeIds.length;
  let maxTree = 0;
  let maxNode = 0;
  let dense = true;
  for (let i = 0; i < n && dense; i++) {
    const t = treeIds[i];
    const id = nodeIds[i];
    dense = Number.isSafeInteger(t) && Number.isSafeInteger(id) && t >= 0 && id >= 0;
    if (t > maxTree) maxTree = t;
    if (id > maxNode) maxNode = id;
  }
  const stride = maxNode + 1;
  if (dense && (maxTree + 1) * stride <= 8 * n + 1024) {
    const slots = new Int32Array((maxTree + 1) * stride).fill(-1);
    for (let i = 0; i < n; i++) slots[treeIds[i] * stride + nodeIds[i]] = i;
    return (t, id) => {
      // An id outside what the nodes use (a branch or weight naming a missing node) is not found.
      if (!(t >= 0 && t <= maxTree && id >= 0 && id < stride && Number.isInteger(t) && Number.isInteger(id))) return undefined;
      const i = slots[t * stride + id];
      return i < 0 ? undefined : i;
    };
  }
  const at = new Map<string, number>();
  for (let i = 0; i < n; i++) at.set(`${treeIds[i]}:${nodeIds[i]}`, i);
  return (t, id) => at.get(`${t}:${id}`);
}

function* flatten(a: Attrs, prefix: 'target' | 'class', wide: boolean): Generator<void, Flat> {
  const treeIds = a.numbers('nodes_treeids') ?? [];
  const nodeIds = a.numbers('nodes_nodeids') ?? [];
  const n = treeIds.length;
  if (!n) throw new Unsupported(`${a.where}: no nodes`);
  if (n > MAX_TREE_NODES) throw new Unsupported(`${a.where}: ${n} nodes, more than the compiled engine's limit of ${MAX_TREE_NODES}`);
  const featureIds = a.numbers('nodes_featureids') ?? [];
  const modes = a.strs('nodes_modes') ?? [];
  const values = a.numbers('nodes_values_as_tensor') ?? a.numbers('nodes_values') ?? [];
  const trueIds = a.numbers('nodes_truenodeids') ?? [];
  const falseIds = a.numbers('nodes_falsenodeids') ?? [];
  const missing = a.numbers('nodes_missing_value_tracks_true') ?? [];
  for (const [name, arr] of [
    ['nodeids', nodeIds],
    ['featureids', featureIds],
    ['modes', modes],
    ['values', values],
    ['truenodeids', trueIds],
    ['falsenodeids', falseIds],
  ] as const) {
    if (arr.length !== n) throw new Unsupported(`${a.where}: nodes_${name} has ${arr.length} entries for ${n} nodes`);
  }
  const at = nodeIndex(treeIds, nodeIds);
  const f: Flat = {
    feature: Int32Array.from(featureIds),
    threshold: wide ? new Float64Array(n) : new Float32Array(n),
    mode: new Uint8Array(n),
    next: new Int32Array(2 * n),
    missingTrue: new Uint8Array(n),
    leafStart: new Int32Array(n),
    leafEnd: new Int32Array(n),
    weightTarget: new Int32Array(0),
    weightValue: new Float64Array(0),
    roots: new Int32Array(0),
    allLeq: true,
    maxFeature: 0,
    leaves: new Int32Array(0),
    codeChars: 0,
  };
  const roots: number[] = [];
  for (let i = 0; i < n; i++) {
    if ((i & STEP_MASK) === STEP_MASK) yield;
    if (i === 0 || treeIds[i] !== treeIds[i - 1]) roots.push(i);
    const m = MODES.indexOf(modes[i] as (typeof MODES)[number]);
    if (m < 0) throw new Unsupported(`${a.where}: node mode ${modes[i]} is not compiled`);
    f.mode[i] = m;
    f.threshold[i] = wide ? values[i] : fround(values[i]);
    f.missingTrue[i] = missing[i] ? 1 : 0;
    if (m !== LEAF) {
      if (m !== LEQ) f.allLeq = false;
      const t = at(treeIds[i], trueIds[i]);
      const e = at(treeIds[i], falseIds[i]);
      if (t === undefined || e === undefined) throw new Unsupported(`${a.where}: node ${nodeIds[i]} of tree ${treeIds[i]} points to a node that does not exist`);
      f.next[2 * i] = t;
      f.next[2 * i + 1] = e;
      f.maxFeature = Math.max(f.maxFeature, featureIds[i]);
    }
  }
  f.roots = Int32Array.from(roots);
  f.leaves = new Int32Array(roots.length);
  // Leaf weights, grouped per leaf in their listed order.
  const wTree = a.numbers(`${prefix}_treeids`) ?? [];
  const wNode = a.numbers(`${prefix}_nodeids`) ?? [];
  const wId = a.numbers(`${prefix}_ids`) ?? [];
  const wVal = a.numbers(`${prefix}_weights_as_tensor`) ?? a.numbers(`${prefix}_weights`) ?? [];
  // Group the weights by leaf, leaves in node order and each leaf's weights in listed order (a counting sort).
  const leafOfWeight = new Int32Array(wTree.length);
  const count = new Int32Array(n + 1);
  for (let k = 0; k < wTree.length; k++) {
    if ((k & STEP_MASK) === STEP_MASK) yield;
    const i = at(wTree[k], wNode[k]);
    if (i === undefined) throw new Unsupported(`${a.where}: a weight names node ${wNode[k]} of tree ${wTree[k]}, which does not exist`);
    if (f.mode[i] !== LEAF) throw new Unsupported(`${a.where}: a weight is attached to branch node ${wNode[k]} of tree ${wTree[k]}`);
    leafOfWeight[k] = i;
    count[i + 1]++;
  }
  for (let i = 0; i < n; i++) {
    count[i + 1] += count[i];
    f.leafStart[i] = count[i];
    f.leafEnd[i] = count[i + 1];
  }
  f.weightTarget = new Int32Array(wTree.length);
  f.weightValue = wide ? new Float64Array(wTree.length) : new Float32Array(wTree.length);
  const next = count.slice(0, n);
  for (let k = 0; k < wTree.length; k++) {
    const w = next[leafOfWeight[k]]++;
    f.weightTarget[w] = wId[k];
    f.weightValue[w] = wide ? wVal[k] : fround(wVal[k]);
  }
  yield;
  yield* generateCode(f, wide);
  return f;
}

/**
 * Sum every tree's leaf weights for one row into s (per target), in tree order. Float32 sums
 * (onnxruntime's float threshold type) round after every addition.
 */
function sumTrees(f: Flat, x: NumData, base: number, s: Float64Array, has: Uint8Array | undefined, wide: boolean): void {
  const { roots, leafStart, leafEnd, weightTarget, weightValue, leaves } = f;
  const fr = Math.fround;
  if (f.summers) {
    const k = f.summers.target;
    for (const sum of f.summers.run) s[k] = sum(x, base, s[k]);
    if (has) has[k] = 1;
    return;
  }
  if (f.walkers) for (const walk of f.walkers) walk(x, base, leaves);
  else for (let t = 0; t < roots.length; t++) leaves[t] = leafOf(f, x, base, roots[t]);
  for (let t = 0; t < roots.length; t++) {
    const i = leaves[t];
    for (let w = leafStart[i]; w < leafEnd[i]; w++) {
      const k = weightTarget[w];
      s[k] = wide ? s[k] + weightValue[w] : fr(s[k] + weightValue[w]);
      if (has) has[k] = 1;
    }
  }
}

/** The leaf a row reaches in the tree rooted at `i`. */
function leafOf(f: Flat, x: NumData, base: number, i: number): number {
  const { mode, feature, threshold, next, missingTrue } = f;
  if (f.allLeq) {
    while (mode[i] !== LEAF) {
      const v = x[base + feature[i]];
      i = next[2 * i + (v <= threshold[i] || (missingTrue[i] === 1 && v !== v) ? 0 : 1)];
    }
    return i;
  }
  while (mode[i] !== LEAF) {
    const v = x[base + feature[i]];
    const t = threshold[i];
    let go: boolean;
    switch (mode[i]) {
      case 0:
        go = v <= t;
        break;
      case 1:
        go = v < t;
        break;
      case 2:
        go = v >= t;
        break;
      case 3:
        go = v > t;
        break;
      case 4:
        go = v === t;
        break;
      default:
        go = v !== t;
    }
    i = next[2 * i + (go || (missingTrue[i] === 1 && v !== v) ? 0 : 1)];
  }
  return i;
}

interface Common {
  flat: Flat;
  inType: DType;
  /** Sum in float32 unless the input (and so onnxruntime's threshold type) is double. */
  add: (s: number, w: number) => number;
  wide: boolean;
  base: number[];
  post: string;
}

/** Read the ensemble; the attributes are returned apart so kernels do not keep them alive. */
function* common(ctx: OpContext, known: readonly string[], prefix: 'target' | 'class'): Generator<void, { a: Attrs; c: Common }> {
  if (ctx.opset > 3) throw new Unsupported(`${ctx.node.op} ${ctx.node.name}: ai.onnx.ml opset ${ctx.opset} (only 1–3 are compiled)`);
  const a = ctx.attrs(known);
  const inType = requireTypes(ctx, 0, NUMBERS);
  const wide = inType === 'double' || a.has('nodes_values_as_tensor');
  const flat = yield* flatten(a, prefix, wide);
  return {
    a,
    c: {
      flat,
      inType,
      add: wide ? (s, w) => s + w : (s, w) => fround(s + w),
      wide,
      base: (a.nums('base_values_as_tensor') ?? a.nums('base_values') ?? []).map((v) => (wide ? v : fround(v))),
      post: a.str('post_transform', 'NONE'),
    },
  };
}

const NODE_ATTRS = [
  'nodes_treeids',
  'nodes_nodeids',
  'nodes_featureids',
  'nodes_modes',
  'nodes_values',
  'nodes_values_as_tensor',
  'nodes_truenodeids',
  'nodes_falsenodeids',
  'nodes_missing_value_tracks_true',
  'nodes_hitrates',
  'nodes_hitrates_as_tensor',
  'base_values',
  'base_values_as_tensor',
  'post_transform',
];

function inputRows(x: { dims: number[] }, f: Flat, at: string): [number, number] {
  const cols = x.dims.length === 1 ? x.dims[0] : sizeFrom(x.dims, 1);
  if (f.maxFeature >= cols) throw new Error(`${at}: reads feature ${f.maxFeature} of a ${cols}-column input`);
  return [x.dims.length === 1 ? 1 : x.dims[0], cols];
}

const regressor: OpCompiler = function* (ctx) {
  const { a, c } = yield* common(ctx, [...NODE_ATTRS, 'target_treeids', 'target_nodeids', 'target_ids', 'target_weights', 'target_weights_as_tensor', 'n_targets', 'aggregate_function'], 'target');
  const { flat, add } = c;
  const targets = a.int('n_targets', 1);
  const agg = a.str('aggregate_function', 'SUM');
  if (agg !== 'SUM' && agg !== 'AVERAGE') throw new Unsupported(`${a.where}: aggregate_function ${agg} is not compiled (SUM and AVERAGE are)`);
  if (targets === 1 && c.post !== 'NONE') throw new Unsupported(`${a.where}: post_transform ${c.post} on one target is not compiled`);
  const post = postTransform(c.post, a.where);
  const trees = flat.roots.length;
  const origin = c.base.length === 1 ? c.base[0] : 0;
  const useBase = c.base.length === targets;
  for (const t of flat.weightTarget) if (t < 0 || t >= targets) throw new Unsupported(`${a.where}: target id ${t} for ${targets} targets`);
  const at = `${ctx.node.op} ${ctx.node.name}`;
  const buf = new Scratch('float');
  const s = new Float64Array(targets);
  return {
    bytes: flatBytes(flat),
    types: ['float'],
    kernel: ([x]) => {
      const [rows, cols] = inputRows(x!, flat, at);
      const src = x!.data as NumData;
      const out = buf.get(rows * targets);
      for (let r = 0; r < rows; r++) {
        s.fill(0);
        sumTrees(flat, src, r * cols, s, undefined, c.wide);
        if (targets === 1) {
          out[r] = agg === 'AVERAGE' ? add(s[0] / trees, origin) : add(s[0], origin);
          continue;
        }
        for (let t = 0; t < targets; t++) {
          const v = agg === 'AVERAGE' ? s[t] / trees : s[t];
          s[t] = useBase ? add(v, c.base[t]) : v;
        }
        post?.(s);
        out.set(s, r * targets);
      }
      return [{ type: 'float', dims: [rows, targets], data: out }];
    },
  };
};

const classifier: OpCompiler = function* (ctx) {
  const { a, c } = yield* common(ctx, [...NODE_ATTRS, 'class_treeids', 'class_nodeids', 'class_ids', 'class_weights', 'class_weights_as_tensor', 'classlabels_strings', 'classlabels_int64s'], 'class');
  const { flat, add, base } = c;
  const labels: (string | number)[] = a.strs('classlabels_strings') ?? a.nums('classlabels_int64s') ?? [];
  const labelType: DType = a.has('classlabels_strings') ? 'string' : 'int64';
  const classes = labels.length;
  if (classes < 2) throw new Unsupported(`${a.where}: ${classes} class labels`);
  const post = postTransform(c.post, a.where);
  for (const t of flat.weightTarget) if (t < 0 || t >= classes) throw new Unsupported(`${a.where}: class id ${t} for ${classes} classes`);
  // onnxruntime's binary case: two labels and weights for one class only.
  const weighted = new Set(flat.weightTarget);
  const binary = classes === 2 && weighted.size === 1;
  const allPositive = flat.weightValue.every((w) => w >= 0);
  if (c.post === 'PROBIT') throw new Unsupported(`${a.where}: post_transform PROBIT is not compiled`);
  const at = `${ctx.node.op} ${ctx.node.name}`;
  const zBuf = new Scratch('float');
  const yBuf = labelType === 'string' ? undefined : new Scratch(labelType);
  const s = new Float64Array(classes);
  const has = new Uint8Array(classes);
  const pair = new Float64Array(2);
  return {
    bytes: flatBytes(flat),
    types: [labelType, 'float'],
    kernel: ([x]) => {
      const [rows, cols] = inputRows(x!, flat, at);
      const src = x!.data as NumData;
      const z = zBuf.get(rows * classes) as Float32Array;
      const y = yBuf ? yBuf.get(rows) : alloc(labelType, rows);
      for (let r = 0; r < rows; r++) {
        s.fill(0);
        has.fill(0);
        sumTrees(flat, src, r * cols, s, has, c.wide);
        if (classes > 2) {
          for (let k = 0; k < base.length; k++) s[k] = has[k] ? add(s[k], base[k]) : base[k];
          let best = -1;
          for (let k = 0; k < classes; k++) if ((has[k] || k < base.length) && (best < 0 || s[k] > s[best])) best = k;
          y[r] = labels[Math.max(best, 0)];
          post?.(s);
          for (let k = 0; k < classes; k++) z[r * classes + k] = s[k];
          continue;
        }
        binaryScores(s, has, base, add, binary, allPositive, c.post, post, pair, z, r * 2);
        y[r] = labels[binaryLabel(s, has, binary, allPositive) ? 1 : 0];
      }
      return [
        { type: labelType, dims: [rows], data: y },
        { type: 'float', dims: [rows, classes], data: z },
      ];
    },
  };
};

/** The positive class wins (onnxruntime's _set_score_binary on the raw sums). */
function binaryLabel(s: Float64Array, has: Uint8Array, binary: boolean, allPositive: boolean): boolean {
  const pos = has[1] ? s[1] : has[0] ? s[0] : 0;
  return binary && allPositive ? pos > 0.5 : pos > 0;
}

/** Two-class scores as onnxruntime writes them (tree_ensemble_aggregator.h, write_scores). */
function binaryScores(
  s: Float64Array,
  has: Uint8Array,
  base: number[],
  add: (a: number, b: number) => number,
  binary: boolean,
  allPositive: boolean,
  post: string,
  transform: ((s: Float64Array) => void) | undefined,
  pair: Float64Array,
  out: Float32Array,
  at: number,
): void {
  let single: boolean; // one score left, expanded to two columns below
  let mode = -1; // onnxruntime's write_additional_scores
  if (base.length === 2) {
    if (has[1]) {
      s[1] = add(base[1], s[0]);
      s[0] = -s[1];
      has[1] = 1;
    } else {
      s[1] = add(s[1], base[1]);
      s[0] = add(s[0], base[0]);
    }
    single = false;
  } else if (base.length === 1) {
    s[0] = add(s[0], base[0]);
    single = !has[1];
  } else {
    mode = 3;
    single = !has[1];
  }
  const pos = has[1] && !single ? s[1] : has[0] || single ? s[0] : 0;
  if (binary) mode = allPositive ? (pos > 0.5 ? 0 : 1) : pos > 0 ? 2 : 3;
  if (!single) {
    // Transformed in a copy: the label is read from the sums themselves.
    pair[0] = s[0];
    pair[1] = s[1];
    transform?.(pair);
    out[at] = pair[0];
    out[at + 1] = pair[1];
    return;
  }
  const v = s[0];
  if (mode === 0 || mode === 1) {
    out[at] = fround(1 - v);
    out[at + 1] = v;
  } else if (post === 'LOGISTIC') {
    out[at] = logistic(-v);
    out[at + 1] = logistic(v);
  } else if (mode === 2) {
    out[at] = -v;
    out[at + 1] = v;
  } else if (mode === 3) {
    out[at] = v;
    out[at + 1] = -v;
  } else {
    out[at] = v;
    out[at + 1] = 0;
  }
}

export const TREE_OPS: Record<string, OpCompiler> = {
  TreeEnsembleRegressor: regressor,
  TreeEnsembleClassifier: classifier,
};
