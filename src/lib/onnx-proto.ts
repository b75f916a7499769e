import { createRequire } from 'node:module';
import type onnxProto from 'onnx-proto';
import { lazyRequire } from './lazy-require.js';

/** onnx-proto's message classes (ModelProto, NodeProto, TensorProto, …). */
export type Onnx = typeof onnxProto.onnx;
export type NodeProto = InstanceType<Onnx['NodeProto']>;

/**
 * onnx-proto, with int64 fields decoded as numbers. Its protobufjs decodes them as Long
 * objects when long.js is installed (it is: onnx-proto depends on it), and a tree ensemble
 * keeps its tree, node and feature ids and its class ids as int64 lists: a 60-tree forest
 * decoded into some 750,000 Longs, each then turned into a number, and its decode took twice
 * as long, most of it collecting the garbage. Every reader here turned them into numbers
 * anyway (exact to 2^53, far past any id or class label; INT64_MAX in a Slice rounds the same
 * either way), and the writers take numbers.
 *
 * Loaded on first use: with protobufjs, about 30 ms of the start of every CLI command, most of
 * which never read a graph.
 */
const load = lazyRequire<typeof onnxProto>('onnx-proto', () => {
  const require = createRequire(createRequire(import.meta.url).resolve('onnx-proto'));
  const protobuf = require('protobufjs/minimal') as { util: { Long: unknown }; configure(): void };
  protobuf.util.Long = undefined;
  protobuf.configure();
});

export const onnx = (): Onnx => load().onnx;
