import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
import { notUtf8, parseJsonBody } from '../lib/json-text.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A JSON body's text as received, up to BODY_TEXT_KEPT characters (else null): the audit log cuts the features' text out of it. */
    bodyText: string | null;
  }
}

/**
 * Longest body text kept on the request. A single-row body is a few hundred characters; a
 * batch body may be megabytes, and keeping its text alive beside the parsed rows until the
 * reply would add to every large request's memory for nothing (the audit log only cuts
 * features out of single-row bodies).
 */
const BODY_TEXT_KEPT = 64 * 1024;

/** Whether the body that arrived (uncompressed, of a stated length) was longer or shorter in bytes than its UTF-8 decoding: bytes were replaced. */
function notUtf8Arrived(request: FastifyRequest, text: string): boolean {
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return false;
  const length = Number(request.headers['content-length']);
  return Number.isFinite(length) && Buffer.byteLength(text, 'utf8') !== length;
}

/**
 * JSON bodies, parsed with prototype-poisoning protection: a body with `__proto__` or
 * `constructor.prototype` keys is refused (400), never merged into objects. The full scan
 * only runs when the text could spell such a key (literally or with \u escapes); other bodies
 * take plain JSON.parse, which keeps the scan off the hot path.
 */
export function installJsonParser(app: FastifyInstance): void {
  // Fastify's text/plain parser handed a JSON text sent as text/plain (fetch's default for a string body) to the routes as a string, refused as "body: must be object": refused as the wrong media type instead.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.decorateRequest('bodyText', null);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    // A byte that is not UTF-8 decodes to U+FFFD, three bytes where it was one or two: the text
    // no longer has the byte length that arrived. (An ASCII body is not searched: V8 knows a
    // one-byte string cannot hold the character.)
    if (text.includes('\uFFFD') && notUtf8Arrived(request, text)) return done(notUtf8(request.headers['content-type']), undefined);
    if (text.length <= BODY_TEXT_KEPT) request.bodyText = text;
    let value: unknown;
    try {
      value = parseJsonBody(text);
    } catch (e) {
      const encoding = request.headers['content-encoding'];
      // Only looked at once parsing failed, so plain bodies pay nothing for it.
      if (encoding !== undefined && encoding !== 'identity')
        return done(new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported on this route; send the JSON uncompressed`), undefined);
      return done(e as AppError, undefined);
    }
    done(null, value);
  });
}
