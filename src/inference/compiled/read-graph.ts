import { onnx } from '../../lib/onnx-proto.js';
import { drain } from '../../lib/yielder.js';
import {
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  MODEL_GRAPH,
  MODEL_OPSET_IMPORT,
  NODE_DOMAIN,
  NODE_INPUT,
  NODE_NAME,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  OPSET_DOMAIN,
  VALUE_INFO_NAME,
} from '../onnx-wire.js';
import { tensorOf, type AttrValue, type IrGraph, type IrNode } from './graph.js';
import { dtypeOf, Unsupported, type Tensor } from './tensor.js';

/**
 * The graph the compiler needs, read straight from the protobuf wire format. protobufjs
 * decoded a 60-tree forest (75,000 nodes, a dozen lists of that length) in 140–270 ms and
 * readGraph then copied every list again, all on the thread that serves requests while a
 * version loads; reading each list once into the arrays the compiler keeps takes 25–30 ms
(about 100 ms the first time, before V8 has compiled the loops).
 * Small messages (initializers, input types) still go through protobufjs: they hold little.
 *
 * Repeated numbers are read packed or not (onnx.proto is proto2: its writers may do either).
 */

// Field numbers from onnx.proto the shared wire helpers do not name: an attribute's, and an opset's version.
const NODE_ATTRIBUTE = 5;
const OPSET_VERSION = 2;
const ATTR = { name: 1, f: 2, i: 3, s: 4, t: 5, floats: 7, ints: 8, strings: 9, type: 20 };

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

const utf8 = new TextDecoder();

class Wire {
  pos: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get more(): boolean {
    return this.pos < this.end;
  }

  /** A varint as a number: int64 values in two's complement (negative ones take ten bytes), exact to 2^53. */
  varint(): number {
    let lo = 0;
    let byte = 0;
    // Bits 0–27 fit a 32-bit shift; the fifth byte splits between the low and the high word.
    for (let shift = 0; shift < 28; shift += 7) {
      byte = this.byte();
      lo |= (byte & 0x7f) << shift;
      if (!(byte & 0x80)) return lo >>> 0;
    }
    byte = this.byte();
    lo |= (byte & 0x0f) << 28;
    let hi = (byte & 0x7f) >> 4;
    for (let shift = 3; byte & 0x80 && shift < 38; shift += 7) {
      byte = this.byte();
      hi |= (byte & 0x7f) << shift;
    }
    return (hi | 0) * 0x100000000 + (lo >>> 0);
  }

  private byte(): number {
    if (this.pos >= this.end) throw new Unsupported('the model file ends inside a number (is it truncated?)');
    return this.bytes[this.pos++];
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new Unsupported('the model file ends inside a number');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Packed varints up to `end` (ids and flags: mostly one byte each, read without a call). */
  varints(end: number): Float64Array {
    // At most one value a byte; the array is cut to what was read.
    return this.varintRun(end, undefined, end - this.pos);
  }

  /**
   * A run of one tagged value after another (an unpacked list: what onnx's Python writer
   * makes): the value whose tag was just read, and every one that follows under the same
   * one-byte tag, read in one loop without a call per value (a forest has 900,000 of them, read
   * once, mostly before the JIT has compiled anything).
   */
  taggedVarints(tag: number): Float64Array {
    // Each further value takes its tag byte and at least one byte.
    return this.varintRun(this.end, tag, 1 + Math.floor((this.end - this.pos) / 2));
  }

  /** Varints up to `end`, packed (no tag) or each after `tag` (the first one's already read). */
  private varintRun(end: number, tag: number | undefined, room: number): Float64Array {
    const out = new Float64Array(room);
    const b = this.bytes;
    let p = this.pos;
    let n = 0;
    if (tag === undefined && p >= end) return out;
    for (;;) {
      const c = b[p];
      if (c < 0x80 && p < end) {
        out[n++] = c;
        p++;
      } else {
        // Several bytes, or the file ends here (varint says so).
        this.pos = p;
        out[n++] = this.varint();
        p = this.pos;
      }
      if (p >= end) break;
      if (tag !== undefined) {
        if (b[p] !== tag) break;
        p++;
      }
    }
    this.pos = tag === undefined ? end : p;
    return n === out.length ? out : out.slice(0, n);
  }

  /** As taggedVarints, for float32 values (four bytes each after the tag). */
  taggedFloats(tag: number): Float32Array {
    const b = this.bytes;
    const end = this.end;
    const out = new Float32Array(1 + Math.floor((end - this.pos) / 5));
    const v = this.view;
    let n = 0;
    let p = this.pos;
    for (;;) {
      if (p + 4 > end) throw new Unsupported('the model file ends inside a number (is it truncated?)');
      out[n++] = v.getFloat32(p, true);
      p += 4;
      if (p >= end || b[p] !== tag) break;
      p++;
    }
    this.pos = p;
    return out.slice(0, n);
  }

  /** Packed float32 values up to `end`. */
  floats(end: number): Float32Array {
    if ((end - this.pos) % 4 !== 0) throw new Unsupported('the model file holds a list of floats whose length is not a multiple of 4');
    const out = new Float32Array((end - this.pos) / 4);
    const v = this.view;
    for (let i = 0, p = this.pos; p < end; i++, p += 4) out[i] = v.getFloat32(p, true);
    this.pos = end;
    return out;
  }

  /** A length-delimited payload's bounds; the cursor moves past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Unsupported('the model file ends inside a field (is it truncated?)');
    this.pos += len;
    return [start, this.pos];
  }

  skip(wire: number): void {
    switch (wire) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
      case FIXED32:
        this.pos += wire === FIXED64 ? 8 : 4;
        if (this.pos > this.end) throw new Unsupported('the model file ends inside a number (is it truncated?)');
        return;
      case LEN:
        this.span();
        return;
      default:
        throw new Unsupported(`the model file holds a field of wire type ${wire}, which ONNX does not write`);
    }
  }
}

/** Short ASCII names (a tree's node modes, 75,000 of them in a forest) without TextDecoder's call overhead. */
function text(bytes: Uint8Array, [start, end]: [number, number]): string {
  if (end - start > 24) return utf8.decode(bytes.subarray(start, end));
  let s = '';
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c > 0x7f) return utf8.decode(bytes.subarray(start, end));
    s += String.fromCharCode(c);
  }
  return s;
}

/** Each field of the message between start and end: its number, wire type and a cursor at its value. */
function eachField(w: Wire, visit: (no: number, wire: number) => void): void {
  while (w.more) {
    const tag = w.varint();
    const at = w.pos;
    visit(tag >>> 3, tag & 7);
    // A visitor that did not read the value leaves the cursor where it was: skip it.
    if (w.pos === at) w.skip(tag & 7);
  }
}

/** A repeated number field's values, from the runs they came in (packed or one by one), in order. */
class NumberList {
  private readonly parts: (Float32Array | Float64Array)[] = [];

  run(values: Float32Array | Float64Array): void {
    this.parts.push(values);
  }

  values(): number[] | Float32Array | Float64Array {
    if (this.parts.length === 1) return this.parts[0];
    return this.parts.flatMap((p) => Array.from(p));
  }
}

function readAttribute(w: Wire, where: string): { name: string; value: AttrValue } {
  let name = '';
  let type = 0;
  let f = 0;
  let i = 0;
  let s: [number, number] | undefined;
  let t: [number, number] | undefined;
  // Lists arrive one tagged value at a time (onnx.proto is proto2, and its Python writer does
  // not pack them) or packed (other writers may), even mixed; each run is read into a typed
  // array in one loop, which the tree compiler reads as it is.
  const floats = new NumberList();
  const ints = new NumberList();
  const strings: string[] = [];
  while (w.more) {
    const tag = w.varint();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (no === ATTR.strings && wire === LEN) strings.push(text(w.bytes, w.span()));
    else if ((no === ATTR.ints || no === ATTR.floats) && wire === LEN) {
      const [start, end] = w.span();
      w.pos = start;
      if (no === ATTR.ints) ints.run(w.varints(end));
      else floats.run(w.floats(end));
    } else if (no === ATTR.ints && wire === VARINT) ints.run(w.taggedVarints(tag));
    else if (no === ATTR.floats && wire === FIXED32) floats.run(w.taggedFloats(tag));
    else if (no === ATTR.name && wire === LEN) name = text(w.bytes, w.span());
    else if (no === ATTR.type && wire === VARINT) type = w.varint();
    else if (no === ATTR.f && wire === FIXED32) f = w.float();
    else if (no === ATTR.i && wire === VARINT) i = w.varint();
    else if (no === ATTR.s && wire === LEN) s = w.span();
    else if (no === ATTR.t && wire === LEN) t = w.span();
    else w.skip(wire);
  }
  const label = `${where} attribute ${name}`;
  switch (type) {
    case 1:
      return { name, value: f };
    case 2:
      return { name, value: i };
    case 3:
      return { name, value: s ? utf8.decode(w.bytes.subarray(s[0], s[1])) : '' };
    case 4:
      if (!t) throw new Unsupported(`${label}: a tensor attribute without its tensor`);
      return { name, value: tensorAt(w.bytes, t, label) };
    case 6:
      return { name, value: floats.values() };
    case 7:
      return { name, value: ints.values() };
    case 8:
      return { name, value: strings };
    default:
      throw new Unsupported(`${where}: attribute ${name} has a kind (${type}) the compiler does not read`);
  }
}

const tensorAt = (bytes: Uint8Array, [start, end]: [number, number], where: string): Tensor => tensorOf(onnx().TensorProto.decode(bytes.subarray(start, end)), where);

function* readNode(w: Wire): Generator<void, IrNode> {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = '';
  let op = '';
  let domain = '';
  const attributes: [number, number][] = [];
  eachField(w, (no, wire) => {
    if (wire !== LEN) return;
    const span = w.span();
    if (no === NODE_INPUT) inputs.push(text(w.bytes, span));
    else if (no === NODE_OUTPUT) outputs.push(text(w.bytes, span));
    else if (no === NODE_NAME) name = text(w.bytes, span);
    else if (no === NODE_OP_TYPE) op = text(w.bytes, span);
    else if (no === NODE_DOMAIN) domain = text(w.bytes, span);
    else if (no === NODE_ATTRIBUTE) attributes.push(span);
  });
  const d = domain || 'ai.onnx';
  const label = name || outputs[0] || op || '?';
  if (d !== 'ai.onnx' && d !== 'ai.onnx.ml') throw new Unsupported(`${op} ${label}: operator domain ${d} is not compiled`);
  const attrs = new Map<string, AttrValue>();
  for (const [start, end] of attributes) {
    const a = readAttribute(new Wire(w.bytes, start, end), `${op} ${label}`);
    attrs.set(a.name, a.value);
    yield;
  }
  return { op, domain: d, name: label, inputs, outputs, attrs };
}

/** The graph's nodes, initializers, inputs and outputs, with the opsets of the two domains compiled. */
export function readGraph(file: Uint8Array): IrGraph {
  return drain(readGraphSteps(file));
}

/** readGraph in steps: it yields after each attribute (a forest's node lists take a few ms each), so a caller can let requests through. */
export function* readGraphSteps(file: Uint8Array): Generator<void, IrGraph> {
  // A plain Uint8Array view: indexing a Buffer (what files and the artifact store give) was 3–10× slower here.
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const model = new Wire(bytes);
  const opsets = { 'ai.onnx': 0, 'ai.onnx.ml': 0 };
  let graph: [number, number] | undefined;
  eachField(model, (no, wire) => {
    if (wire !== LEN) return;
    if (no === MODEL_GRAPH) graph = model.span();
    else if (no === MODEL_OPSET_IMPORT) {
      let domain = '';
      let version = 0;
      const [start, end] = model.span();
      const o = new Wire(bytes, start, end);
      eachField(o, (n, ow) => {
        if (n === OPSET_DOMAIN && ow === LEN) domain = text(bytes, o.span());
        else if (n === OPSET_VERSION && ow === VARINT) version = o.varint();
      });
      const d = domain || 'ai.onnx';
      if (d === 'ai.onnx' || d === 'ai.onnx.ml') opsets[d] = version;
    }
  });
  if (!graph) throw new Unsupported('the model file has no graph');
  const g = new Wire(bytes, graph[0], graph[1]);
  const nodeSpans: [number, number][] = [];
  const initializers = new Map<string, Tensor>();
  const inputSpans: [number, number][] = [];
  const outputs: string[] = [];
  eachField(g, (no, wire) => {
    if (wire !== LEN) return;
    const span = g.span();
    if (no === GRAPH_NODE) nodeSpans.push(span);
    else if (no === GRAPH_INPUT) inputSpans.push(span);
    else if (no === GRAPH_INITIALIZER) {
      const t = onnx().TensorProto.decode(bytes.subarray(span[0], span[1]));
      initializers.set(t.name, tensorOf(t, `initializer ${t.name}`));
    } else if (no === GRAPH_OUTPUT) {
      const o = new Wire(bytes, span[0], span[1]);
      let name = '';
      eachField(o, (n, ow) => {
        if (n === VALUE_INFO_NAME && ow === LEN) name = text(bytes, o.span());
      });
      outputs.push(name);
    }
  });
  const inputs = inputSpans
    .map((s) => onnx().ValueInfoProto.decode(bytes.subarray(s[0], s[1])))
    .filter((i) => !initializers.has(i.name))
    .map((i) => ({ name: i.name, type: dtypeOf(i.type?.tensorType?.elemType ?? 0, `input ${i.name}`) }));
  const nodes: IrNode[] = [];
  for (const [start, end] of nodeSpans) nodes.push(yield* readNode(new Wire(bytes, start, end)));
  return { opsets, inputs, outputs, initializers, nodes };
}
