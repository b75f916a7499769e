import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
import { firstNonFinite, nonFiniteAsJson, notUtf8, parseJsonBody } from '../lib/json-text.js';
import { BINARY_HEADER } from './oip-binary.js';

/**
 * Reading an Open Inference Protocol request body the way its clients write it: JSON, or the
 * binary extension's JSON header and bytes; with or without a Content-Type; Python's NaN. Only
 * the /v2 routes read bodies this way; /v1 stays strict.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** The bytes after an OIP request's JSON header (binary data extension), or null. */
    oipBinary: Buffer | null;
  }
}

/**
 * An OIP body: JSON, or with `Inference-Header-Content-Length` the JSON header followed by the
 * tensors' bytes. Taken whatever the Content-Type says, or without one: Triton's clients send none.
 */
export function parseOipBody(request: FastifyRequest, body: Buffer, done: (err: Error | null, value?: unknown) => void): void {
  let value: unknown;
  try {
    value = readOipBody(request, body);
  } catch (e) {
    return done(e as Error);
  }
  done(null, value);
}

/**
 * JSON as Python writes it: `json.dumps` and Triton's client (rapidjson) spell a missing float
 * `NaN` unless told not to. Such a body, which strict JSON refuses, reads NaN as null (missing)
 * and ±Infinity as the numbers; only tried when strict parsing fails.
 */
function parseOipJson(text: string): unknown {
  try {
    return parseJsonBody(text);
  } catch (e) {
    if (!firstNonFinite(text)) throw e;
    return parseJsonBody(nonFiniteAsJson(text));
  }
}

/** The body as text; bytes that are not UTF-8 are refused (they would become U+FFFD). */
function utf8Text(request: FastifyRequest, body: Buffer, end = body.length): string {
  const text = body.toString('utf8', 0, end);
  if (text.includes('\uFFFD') && !isUtf8(body.subarray(0, end))) {
    // Tensor bytes after the JSON, sent without the header that says where the JSON ends.
    if (end === body.length && text.includes('"binary_data_size"'))
      throw new AppError(
        'BAD_REQUEST',
        'the body holds bytes that are not text after its JSON, and parameters.binary_data_size is set, but the request has no Inference-Header-Content-Length header saying where its JSON ends',
      );
    throw notUtf8(request.headers['content-type']);
  }
  return text;
}

function readOipBody(request: FastifyRequest, body: Buffer): unknown {
  const header = request.headers[BINARY_HEADER];
  if (header === undefined) return parseOipJson(utf8Text(request, body));
  const n = Number(header);
  if (!/^\d+$/.test(String(header)) || n < 2 || n > body.length)
    throw new AppError('BAD_REQUEST', `Inference-Header-Content-Length: ${String(header)} is not the byte length of a JSON header within the body's ${body.length} bytes`);
  request.oipBinary = body.subarray(n);
  try {
    return parseOipJson(utf8Text(request, body, n));
  } catch (e) {
    // Valid JSON refused for what it holds (nested too deep) says so as it is.
    if (!(e as Error).message.startsWith('malformed JSON body: ')) throw e;
    const problem = (e as Error).message.replace(/^malformed JSON body: /, '').replace(/; send one JSON object$/, '');
    throw new AppError('BAD_REQUEST', `the JSON header (the body's first ${n} bytes, as Inference-Header-Content-Length says) is not valid JSON: ${problem}`);
  }
}
