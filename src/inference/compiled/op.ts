import type { Attrs, IrNode } from './graph.js';
import { Unsupported, type DType, type Tensor } from './tensor.js';

/** Runs one node: its input values in, its output values out (in the node's output order). */
export type Kernel = (ins: (Tensor | undefined)[]) => Tensor[];

export interface OpContext {
  node: IrNode;
  /** Element types of the node's inputs; undefined for an omitted optional input. */
  types: (DType | undefined)[];
  /** Opset of the node's domain. */
  opset: number;
  /** The value of input i when it is known at compile time (an initializer or a folded constant). */
  constant: (i: number) => Tensor | undefined;
  attrs: (known: readonly string[]) => Attrs;
}

export interface CompiledOp {
  /** Element types of the node's outputs. */
  types: DType[];
  kernel: Kernel;
  /** Bytes the kernel holds beyond its small buffers (tree arrays, coefficients, generated code). */
  bytes?: number;
  /** What a fusion pass (fuse.ts) may combine this node with others by. */
  fusion?: Fusion;
}

/** A one-hot encoding of one column: category → position among `count` outputs. */
export interface OneHotFusion {
  kind: 'oneHot';
  index: Map<string | number, number>;
  count: number;
  /** Unknown categories give all zeros (else they are an error). */
  zeros: boolean;
  /** Numeric categories compare after truncation, as onnxruntime casts them to int64. */
  numeric: boolean;
  at: string;
}

export type Fusion = OneHotFusion | { kind: 'concat'; axis: number };

/** Compiles a node; a long compile (a large tree ensemble) may come in steps, yielding between them so the caller can let requests through. */
export type OpCompiler = (ctx: OpContext) => CompiledOp | Generator<void, CompiledOp>;

/** Refuse input types a kernel does not handle, at compile time (e.g. a string input fed to a numeric node). */
export function requireTypes(ctx: OpContext, i: number, allowed: readonly DType[]): DType {
  const t = ctx.types[i];
  if (t === undefined) throw new Unsupported(`${ctx.node.op} ${ctx.node.name}: input ${i} is missing`);
  if (!allowed.includes(t)) throw new Unsupported(`${ctx.node.op} ${ctx.node.name}: input ${i} is ${t}; the compiled ${ctx.node.op} takes ${allowed.join(', ')}`);
  return t;
}

export const NUMBERS: readonly DType[] = ['float', 'double', 'int64', 'int32'];
export const FLOATS: readonly DType[] = ['float', 'double'];
