import type { FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
import { firstNonFinite, nonFiniteAsJson, parseJsonBody } from '../lib/json-text.js';
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

function readOipBody(request: FastifyRequest, body: Buffer): unknown {
  const header = request.headers[BINARY_HEADER];
  if (header === undefined) return parseOipJson(body.toString('utf8'));
  const n = Number(header);
  if (!/^\d+$/.test(String(header)) || n < 2 || n > body.length)
    throw new AppError('BAD_REQUEST', `Inference-Header-Content-Length: ${String(header)} is not the byte length of a JSON header within the body's ${body.length} bytes`);
  request.oipBinary = body.subarray(n);
  try {
    return parseOipJson(body.toString('utf8', 0, n));
  } catch (e) {
    // Valid JSON refused for what it holds (nested too deep) says so as it is.
    if (!(e as Error).message.startsWith('malformed JSON body: ')) throw e;
    const problem = (e as Error).message.replace(/^malformed JSON body: /, '').replace(/; send one JSON object$/, '');
    throw new AppError('BAD_REQUEST', `the JSON header (the body's first ${n} bytes, as Inference-Header-Content-Length says) is not valid JSON: ${problem}`);
  }
}
