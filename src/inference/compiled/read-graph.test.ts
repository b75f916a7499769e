import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { onnx } from '../../lib/onnx-proto.js';
import { model, node, valueInfo } from '../../training/onnx-builder.js';
import { readGraph } from './read-graph.js';
import { Unsupported } from './tensor.js';

/**
 * The compiler's own reader of the protobuf wire format: it must give what onnx.proto says the
 * bytes hold, however a writer laid the lists out (one tagged value at a time, as onnx-proto
 * and onnx's Python writer do, or packed, as proto3-style writers do), and refuse a file that
 * ends inside a field instead of reading past it.
 */

const INTS = [0, 1, 127, 128, 300, -1, -2, 2 ** 31, -(2 ** 31), 2 ** 40, -(2 ** 40), 2 ** 53 - 1, -(2 ** 53 - 1)];
const FLOATS = [0, -0, 1.5, -2.25, 0.1, NaN, Infinity, -Infinity, 3.4e38, 1e-40, 123.456];
const STRINGS = ['BRANCH_LEQ', 'LEAF', '', 'é', 'a string longer than twenty-four characters, to take the decoder'];

const asList = (v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v);

function graphWith(attrs: Parameters<typeof node>[3]): Uint8Array {
  return model({
    name: 'g',
    nodes: [node('Identity', ['x'], ['y'], attrs)],
    inputs: [valueInfo('x', 'float', ['N', 1])],
    outputs: [valueInfo('y', 'float', ['N', 1])],
    initializers: [],
  });
}

/** One node whose attributes are given as raw AttributeProto bytes, in a model around it. */
function graphWithRawAttributes(attributes: Uint8Array[]): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('x');
  w.uint32((2 << 3) | 2).string('y');
  w.uint32((4 << 3) | 2).string('Identity');
  for (const a of attributes) w.uint32((5 << 3) | 2).bytes(a);
  const nodeBytes = w.finish();
  const g = protobuf.Writer.create();
  g.uint32((1 << 3) | 2).bytes(nodeBytes);
  g.uint32((11 << 3) | 2).bytes(
    onnx()
      .ValueInfoProto.encode(valueInfo('x', 'float', ['N', 1]))
      .finish(),
  );
  g.uint32((12 << 3) | 2).bytes(
    onnx()
      .ValueInfoProto.encode(valueInfo('y', 'float', ['N', 1]))
      .finish(),
  );
  const m = protobuf.Writer.create();
  m.uint32((1 << 3) | 0).int64(8);
  m.uint32((8 << 3) | 2).bytes(onnx().OperatorSetIdProto.encode({ domain: '', version: 15 }).finish());
  m.uint32((7 << 3) | 2).bytes(g.finish());
  return m.finish();
}

/** An ints (type 7) or floats (type 6) attribute: `runs` are packed runs (arrays) or single tagged values (numbers), in order. */
function listAttribute(name: string, kind: 'ints' | 'floats', runs: (number | number[])[]): Uint8Array {
  const field = kind === 'ints' ? 8 : 7;
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(name);
  for (const r of runs) {
    if (Array.isArray(r)) {
      w.uint32((field << 3) | 2).fork();
      for (const v of r) {
        if (kind === 'ints') w.int64(v);
        else w.float(v);
      }
      w.ldelim();
    } else if (kind === 'ints') w.uint32((field << 3) | 0).int64(r);
    else w.uint32((field << 3) | 5).float(r);
  }
  w.uint32((20 << 3) | 0).int32(kind === 'ints' ? 7 : 6);
  return w.finish();
}

describe('readGraph (the compiler reads the wire format itself)', () => {
  it('reads every attribute kind as onnx-proto writes it, one tagged value at a time, as onnx.proto says', () => {
    const bytes = graphWith({ ints: INTS, floats: { floats: FLOATS }, strings: STRINGS, i: -5, big: 2 ** 45, f: 0.25, s: 'BRANCH_LT' });
    const g = readGraph(bytes);
    const attrs = g.nodes[0].attrs;
    // What the lists are, written out independently of any decoder: float32 values are the rounded ones.
    expect(asList(attrs.get('ints'))).toEqual(INTS);
    expect(asList(attrs.get('floats'))).toEqual(FLOATS.map(Math.fround));
    expect(Object.is((asList(attrs.get('floats')) as number[])[1], -0)).toBe(true);
    expect(attrs.get('strings')).toEqual(STRINGS);
    expect(attrs.get('i')).toBe(-5);
    expect(attrs.get('big')).toBe(2 ** 45);
    expect(attrs.get('f')).toBe(0.25);
    expect(attrs.get('s')).toBe('BRANCH_LT');
    // And what protobufjs decodes from the same bytes.
    const decoded = onnx().ModelProto.decode(bytes).graph!.node![0].attribute!;
    for (const a of decoded) {
      const mine = asList(attrs.get(a.name!));
      if (a.type === 7) expect(mine).toEqual(a.ints!.map(Number));
      if (a.type === 6) expect(mine).toEqual(a.floats);
    }
    expect(g.inputs).toEqual([{ name: 'x', type: 'float' }]);
    expect(g.outputs).toEqual(['y']);
    expect(g.opsets).toEqual({ 'ai.onnx': 15, 'ai.onnx.ml': 1 });
  });

  it('reads packed lists, and lists that mix packed runs with single values, in their order', () => {
    const bytes = graphWithRawAttributes([
      listAttribute('packed_ints', 'ints', [INTS]),
      listAttribute('packed_floats', 'floats', [FLOATS]),
      listAttribute('mixed_ints', 'ints', [5, [1, -1, 300], 7, 8, [2 ** 40]]),
      listAttribute('mixed_floats', 'floats', [[0.5, 1.5], 2.5, [NaN]]),
      listAttribute('empty_ints', 'ints', [[]]),
    ]);
    const attrs = readGraph(bytes).nodes[0].attrs;
    expect(asList(attrs.get('packed_ints'))).toEqual(INTS);
    expect(asList(attrs.get('packed_floats'))).toEqual(FLOATS.map(Math.fround));
    expect(asList(attrs.get('mixed_ints'))).toEqual([5, 1, -1, 300, 7, 8, 2 ** 40]);
    expect(asList(attrs.get('mixed_floats'))).toEqual([0.5, 1.5, 2.5, NaN]);
    expect(asList(attrs.get('empty_ints'))).toEqual([]);
    // protobufjs agrees on the same bytes (it reads both layouts too).
    const decoded = onnx().ModelProto.decode(bytes).graph!.node![0].attribute!;
    expect(decoded.find((a) => a.name === 'mixed_ints')!.ints!.map(Number)).toEqual([5, 1, -1, 300, 7, 8, 2 ** 40]);
  });

  it('refuses a file that ends inside a field, wherever it is cut, instead of reading past its end', () => {
    const bytes = graphWith({ ints: INTS, floats: { floats: FLOATS }, strings: STRINGS });
    let refused = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      try {
        readGraph(bytes.subarray(0, cut));
      } catch (e) {
        // Only the reader's own refusal: no RangeError from reading past the buffer, no TypeError.
        expect(e).toBeInstanceOf(Unsupported);
        refused++;
      }
    }
    // The model is one graph field: every cut inside it leaves that field short.
    expect(refused).toBeGreaterThan(bytes.length - 20);
  });
});
