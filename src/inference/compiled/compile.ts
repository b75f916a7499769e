import { Attrs, type IrGraph, type IrNode } from './graph.js';
import { readGraphSteps } from './read-graph.js';
import { drain, drainYielding, type Yielder } from '../../lib/yielder.js';
import { fuseOneHotConcat, type Step } from './fuse.js';
import type { CompiledOp, OpCompiler, OpContext } from './op.js';
import { ML_OPS } from './ops-ml.js';
import { STANDARD_OPS } from './ops-standard.js';
import { TREE_OPS } from './tree-ensemble.js';
import { Unsupported, type DType, type Tensor } from './tensor.js';

const ML: Record<string, OpCompiler> = { ...ML_OPS, ...TREE_OPS };

/** A graph compiled to JavaScript: feed tensors by input name, get the requested output. */
export interface Program {
  /** Bytes the program holds: constants, tree arrays, coefficients, generated code. */
  readonly bytes: number;
  run(feeds: Record<string, Tensor>): Tensor;
}

/** Nodes needed for `output`, in graph order (ONNX requires nodes in topological order). */
function needed(g: IrGraph, output: string): IrNode[] {
  const producer = new Map<string, IrNode>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  if (!producer.has(output)) throw new Unsupported(`no node produces ${output}`);
  const keep = new Set<IrNode>();
  const stack = [output];
  while (stack.length) {
    const v = stack.pop()!;
    const n = producer.get(v);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    for (const i of n.inputs) if (i) stack.push(i);
  }
  return g.nodes.filter((n) => keep.has(n));
}

const tensorBytes = (t: Tensor) => (Array.isArray(t.data) ? 0 : t.data.byteLength);

/**
 * A kernel can keep its compiler's context object alive: V8 gives all closures of one scope a
 * shared context, so a kernel holds `ctx` whenever any closure beside it reads it. Once the
 * node is compiled the context is emptied, so what it held (the node's decoded attributes, and
 * through `constant` the graph's constants) goes with the graph. A kernel that read it at run
 * time would fail loudly, in the engine's check against onnxruntime, not serve wrong values.
 */
function retire(ctx: OpContext): void {
  for (const key of Object.keys(ctx)) {
    Object.defineProperty(ctx, key, {
      get: () => {
        throw new Error(`the compile context's ${key} was read after compilation`);
      },
    });
  }
}

export interface CompileOptions {
  /** Told of each node compiled (tests: what a compiled program keeps alive). */
  onCompiled?: (node: IrNode) => void;
}

/**
 * Compile the part of a graph that computes `output`. Throws Unsupported naming the first
 * operator, attribute or input type the compiled engine does not handle.
 */
export function compileGraph(bytes: Uint8Array, output: string, opts: CompileOptions = {}): Program {
  return drain(compileSteps(bytes, output, opts));
}

/** compileGraph, giving the event loop a turn between steps once they have taken the yielder's budget (a server loading a version goes on answering). */
export function compileGraphYielding(bytes: Uint8Array, output: string, opts: CompileOptions = {}, yielder?: Yielder): Promise<Program> {
  return drainYielding(compileSteps(bytes, output, opts), yielder);
}

const isSteps = (x: CompiledOp | Generator<void, CompiledOp>): x is Generator<void, CompiledOp> => typeof (x as Generator).next === 'function';

/** The compile in steps: it yields after each attribute read and each node compiled. */
function* compileSteps(bytes: Uint8Array, output: string, opts: CompileOptions): Generator<void, Program> {
  const g = yield* readGraphSteps(bytes);
  const slot = new Map<string, number>();
  const types = new Map<string, DType>();
  const constants = new Map<number, Tensor>();
  const slotOf = (name: string) => {
    let s = slot.get(name);
    if (s === undefined) slot.set(name, (s = slot.size));
    return s;
  };
  for (const i of g.inputs) {
    slotOf(i.name);
    types.set(i.name, i.type);
  }
  for (const [name, t] of g.initializers) {
    constants.set(slotOf(name), t);
    types.set(name, t.type);
  }
  const steps: Step[] = [];
  let held = [...g.initializers.values()].reduce((s, t) => s + tensorBytes(t), 0);
  for (const node of needed(g, output)) {
    const where = `${node.op} ${node.name}`;
    const table = node.domain === 'ai.onnx.ml' ? ML : STANDARD_OPS;
    const compiler = Object.hasOwn(table, node.op) ? table[node.op] : undefined;
    if (!compiler) throw new Unsupported(`operator ${node.domain === 'ai.onnx.ml' ? 'ai.onnx.ml.' : ''}${node.op} (node ${node.name}) is not compiled`);
    const ins = node.inputs.map((n) => (n ? slotOf(n) : -1));
    const inTypes = node.inputs.map((n) => (n ? types.get(n) : undefined));
    node.inputs.forEach((n, i) => {
      if (n && inTypes[i] === undefined) throw new Unsupported(`${where}: input ${n} has no known type`);
    });
    const ctx: OpContext = {
      node,
      types: inTypes,
      opset: g.opsets[node.domain] || 1,
      constant: (i) => (ins[i] >= 0 ? constants.get(ins[i]) : undefined),
      attrs: (known) => new Attrs(node, known),
    };
    const made = compiler(ctx);
    const compiled = isSteps(made) ? yield* made : made;
    retire(ctx);
    opts.onCompiled?.(node);
    yield;
    const outs = node.outputs.map((o) => (o ? slotOf(o) : -1));
    node.outputs.forEach((o, i) => o && compiled.types[i] && types.set(o, compiled.types[i]));
    held += compiled.bytes ?? 0;
    // Fold a node whose inputs are all constants (shapes, reshaped initializers) at compile time.
    if (ins.length && ins.every((s) => s < 0 || constants.has(s))) {
      let values: Tensor[] | undefined;
      try {
        values = compiled.kernel(ins.map((s) => (s < 0 ? undefined : constants.get(s))));
      } catch {
        values = undefined; // leave it to run time, where the error reaches the caller
      }
      if (values) {
        outs.forEach((s, i) => s >= 0 && values[i] && constants.set(s, values[i]));
        continue;
      }
    }
    steps.push({ kernel: compiled.kernel, ins, outs, fusion: compiled.fusion });
  }
  const target = slot.get(output)!;
  return {
    bytes: held,
    run: straightLine(
      fuseOneHotConcat(steps, target),
      constants,
      g.inputs.map((i) => ({ name: i.name, slot: slot.get(i.name)! })),
      target,
      output,
    ),
  };
}

/**
 * The steps as one generated function: each value a local variable, each kernel called with its
 * arguments in place. Looping over step records instead cost about a third of a small graph's
 * run (megamorphic loads of each step's fields, an arguments array refilled per step). Only slot
 * numbers and JSON-quoted input names are written into the code, so no text from the model
 * reaches it unquoted.
 */
function straightLine(steps: Step[], constants: Map<number, Tensor>, inputs: { name: string; slot: number }[], target: number, output: string): Program['run'] {
  const ref = (s: number) => (s < 0 ? 'undefined' : `v${s}`);
  const lines: string[] = ['"use strict";'];
  const fed = new Set(inputs.map((i) => i.slot));
  // A graph input with an initializer of the same name takes the fed value (the initializer is its default).
  for (const s of constants.keys()) if (!fed.has(s)) lines.push(`const v${s} = C.get(${s});`);
  lines.push('return function run(f) {');
  for (const i of inputs) lines.push(`const v${i.slot} = f[${JSON.stringify(i.name)}];`);
  steps.forEach((step, j) => {
    lines.push(`const o${j} = K[${j}]([${step.ins.map(ref).join(', ')}]);`);
    step.outs.forEach((s, k) => s >= 0 && lines.push(`const v${s} = o${j}[${k}];`));
  });
  lines.push(`return v${target};`, '};');
  const run = new Function('K', 'C', lines.join('\n'))(
    steps.map((s) => s.kernel),
    constants,
  ) as (feeds: Record<string, Tensor>) => Tensor | undefined;
  return (feeds) => {
    const out = run(feeds);
    if (!out) throw new Error(`the compiled graph did not produce ${output}`);
    // Kernels reuse their buffers on the next run; the result leaves, so it gets its own copy.
    return { type: out.type, dims: out.dims, data: out.data.slice() };
  };
}
