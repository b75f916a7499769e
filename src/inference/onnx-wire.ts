import type protobufMinimal from 'protobufjs/minimal.js';
import { lazyRequire } from '../lib/lazy-require.js';

// Loaded on first use, as onnx-proto is (src/lib/onnx-proto.ts): most CLI commands read no graph.
const protobuf = lazyRequire<typeof protobufMinimal>('protobufjs/minimal.js');

/**
 * Reading and editing an ONNX model on the protobuf wire format: a model's fields are found
 * and copied as bytes, so a rewrite never decodes (or re-encodes) what it does not change. A
 * tree ensemble's node holds hundreds of thousands of numbers; decoding it only to copy it
 * cost more than half a second for a 60-tree forest. Fields newer than onnx-proto's schema
 * (ONNX 1.10) survive untouched.
 */

// Field numbers from onnx.proto.
export const MODEL_GRAPH = 7;
export const MODEL_OPSET_IMPORT = 8;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const GRAPH_VALUE_INFO = 13;
export const NODE_INPUT = 1;
export const NODE_OUTPUT = 2;
export const NODE_NAME = 3;
export const NODE_OP_TYPE = 4;
export const NODE_DOMAIN = 7;
export const VALUE_INFO_NAME = 1;
export const TENSOR_NAME = 8;
export const OPSET_DOMAIN = 1;
const WIRE_LEN = 2;

export interface Field {
  no: number;
  wire: number;
  start: number;
  end: number;
  /** Payload bounds for length-delimited fields. */
  data?: [number, number];
}

/** A message's fields in wire order; length-delimited payloads are skipped, not read. */
export function fields(bytes: Uint8Array): Field[] {
  const r = protobuf().Reader.create(bytes);
  const out: Field[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_LEN) {
      const len = r.uint32();
      const dataStart = r.pos;
      r.skip(len);
      out.push({ no, wire, start, end: r.pos, data: [dataStart, dataStart + len] });
    } else {
      r.skipType(wire);
      out.push({ no, wire, start, end: r.pos });
    }
  }
  return out;
}

const utf8 = new TextDecoder();

/** Every value of a repeated string field (a node's inputs or outputs), in order. */
function stringFields(bytes: Uint8Array, no: number, of: Field[] = fields(bytes)): string[] {
  return of.filter((f) => f.no === no && f.data).map((f) => utf8.decode(bytes.subarray(f.data![0], f.data![1])));
}

/** The first value of a string field, if any. */
export function stringField(bytes: Uint8Array, no: number, of?: Field[]): string | undefined {
  return stringFields(bytes, no, of)[0];
}

/** A length-delimited field: tag, length, payload. */
export function lengthDelimited(no: number, payload: Uint8Array): Uint8Array {
  return protobuf()
    .Writer.create()
    .uint32((no << 3) | WIRE_LEN)
    .bytes(payload)
    .finish();
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A field's payload as a view of `bytes`. */
export const payload = (bytes: Uint8Array, f: Field): Uint8Array => bytes.subarray(f.data![0], f.data![1]);

/** What a node is and what it reads and writes, without its attributes. */
export interface NodeHeader {
  opType: string;
  domain: string;
  name: string;
  input: string[];
  output: string[];
}

/** A node's header read from the wire: its attributes (a tree ensemble's hundreds of thousands of numbers) are skipped, not decoded. */
export function nodeHeader(node: Uint8Array): NodeHeader {
  const f = fields(node);
  return {
    opType: stringField(node, NODE_OP_TYPE, f) ?? '',
    domain: stringField(node, NODE_DOMAIN, f) ?? '',
    name: stringField(node, NODE_NAME, f) ?? '',
    input: stringFields(node, NODE_INPUT, f),
    output: stringFields(node, NODE_OUTPUT, f),
  };
}
