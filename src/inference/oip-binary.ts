import { AppError } from '../lib/errors.js';
import { checkShape, type OipDatatype, type OipRequest, type OipTensor } from './oip.js';

/**
 * The protocol's binary tensor data extension (Triton's `binary_tensor_data`, which KServe
 * supports too): a request or reply body is the JSON header, `Inference-Header-Content-Length`
 * bytes long, followed by the raw data of the tensors that carry `parameters.binary_data_size`,
 * in their order. Triton's Python and C++ clients send inputs and ask for outputs this way by
 * default. Values are little-endian; a BYTES element is its byte length (4 bytes) and its bytes.
 */

export const BINARY_HEADER = 'inference-header-content-length';

const bad = (message: string): never => {
  throw new AppError('VALIDATION_FAILED', message);
};

/** Bytes per element of the fixed-size datatypes. */
const WIDTH: Record<Exclude<OipDatatype, 'BYTES'>, number> = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };

/** IEEE half precision to a number (Node 20 has no DataView.getFloat16). */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * A tensor's values from its bytes. A NaN in a floating-point tensor is a missing value (null),
 * as null is in JSON, which cannot spell NaN: clients mark a missing feature that way.
 */
function decodeValues(bytes: Buffer, datatype: string, count: number, where: string): unknown[] {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) bad(`${where}: its BYTES data ends inside an element's 4-byte length`);
      const len = bytes.readUInt32LE(at);
      at += 4;
      if (at + len > bytes.length) bad(`${where}: a BYTES element of ${len} bytes runs past its binary_data_size`);
      out.push(bytes.toString('utf8', at, at + len));
      at += len;
    }
    if (out.length !== count) bad(`${where}: its shape holds ${count} values but its binary data has ${out.length} BYTES elements`);
    return out;
  }
  // checkShape has made sure the datatype is one of the protocol's.
  const width = WIDTH[datatype as Exclude<OipDatatype, 'BYTES'>];
  if (bytes.length !== count * width) bad(`${where}: its shape holds ${count} ${datatype} values (${count * width} bytes) but parameters.binary_data_size is ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<unknown>(count);
  for (let i = 0; i < count; i++) {
    const o = i * width;
    switch (datatype) {
      case 'BOOL': {
        const b = view.getUint8(o);
        out[i] = b === 0 ? false : b === 1 ? true : bad(`${where}: a BOOL byte is 0 or 1, got ${b} at element ${i}`);
        break;
      }
      case 'UINT8':
        out[i] = view.getUint8(o);
        break;
      case 'INT8':
        out[i] = view.getInt8(o);
        break;
      case 'UINT16':
        out[i] = view.getUint16(o, true);
        break;
      case 'INT16':
        out[i] = view.getInt16(o, true);
        break;
      case 'UINT32':
        out[i] = view.getUint32(o, true);
        break;
      case 'INT32':
        out[i] = view.getInt32(o, true);
        break;
      case 'UINT64':
        out[i] = Number(view.getBigUint64(o, true));
        break;
      case 'INT64':
        out[i] = Number(view.getBigInt64(o, true));
        break;
      case 'FP16':
        out[i] = half(view.getUint16(o, true));
        break;
      case 'FP32':
        out[i] = view.getFloat32(o, true);
        break;
      default:
        out[i] = view.getFloat64(o, true);
    }
    if (typeof out[i] === 'number' && Number.isNaN(out[i])) out[i] = null;
  }
  return out;
}

/**
 * Fills `data` of every input that carries `parameters.binary_data_size` from the bytes after
 * the JSON header, in input order, so the rest of the path sees one kind of request. `binary` is
 * null when the request had no `Inference-Header-Content-Length` header.
 */
export function readBinaryInputs(req: OipRequest, binary: Buffer | null): void {
  if (!Array.isArray(req?.inputs)) return;
  let at = 0;
  req.inputs.forEach((t: OipTensor, i) => {
    const size = t?.parameters?.binary_data_size;
    if (size === undefined) return;
    const where = `inputs[${i}]`;
    if (binary === null) bad(`${where}: parameters.binary_data_size is set but the request has no Inference-Header-Content-Length header saying where its JSON ends`);
    if (!Number.isInteger(size) || (size as number) < 0) bad(`${where}.parameters.binary_data_size: expected a byte count, got ${JSON.stringify(size)}`);
    if (t.data !== undefined) bad(`${where}: has both data and parameters.binary_data_size; send one`);
    const count = checkShape(t, where);
    if (at + (size as number) > binary!.length) bad(`${where}: parameters.binary_data_size ${size} runs past the ${binary!.length} bytes after the JSON header`);
    t.data = decodeValues(binary!.subarray(at, at + (size as number)), t.datatype, count, where);
    at += size as number;
  });
  if (binary !== null && at !== binary.length) bad(`the body holds ${binary.length} bytes after its JSON header, but the inputs' parameters.binary_data_size add up to ${at}`);
}

/** Whether an output goes back as binary data: its own `binary_data` parameter, else the request's `binary_data_output`. */
export function wantsBinary(req: OipRequest, output: string): boolean {
  const own = req.outputs?.find((o) => o.name === output)?.parameters?.binary_data;
  return typeof own === 'boolean' ? own : req.parameters?.binary_data_output === true;
}

function encodeValues(data: unknown[], datatype: string): Buffer {
  if (datatype === 'BYTES') {
    const parts = data.map((v) => Buffer.from(String(v), 'utf8'));
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, at);
      p.copy(out, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  const out = Buffer.allocUnsafe(data.length * 8);
  data.forEach((v, i) => (datatype === 'INT64' ? out.writeBigInt64LE(BigInt(v as number), i * 8) : out.writeDoubleLE(v as number, i * 8)));
  return out;
}

/**
 * A reply whose outputs (those `binary` picks) carry their data as bytes after the JSON header.
 * The outputs modelgate answers are FP64, INT64 and BYTES.
 */
export function binaryReply(reply: { outputs: OipTensor[] } & Record<string, unknown>, binary: (name: string) => boolean): { body: Buffer; headerLength: number } | null {
  if (!reply.outputs.some((o) => binary(o.name))) return null;
  const chunks: Buffer[] = [];
  const outputs = reply.outputs.map((o) => {
    if (!binary(o.name)) return o;
    const bytes = encodeValues(o.data as unknown[], o.datatype);
    chunks.push(bytes);
    const { data: _data, ...rest } = o;
    return { ...rest, parameters: { ...o.parameters, binary_data_size: bytes.length } };
  });
  const header = Buffer.from(JSON.stringify({ ...reply, outputs }), 'utf8');
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}
