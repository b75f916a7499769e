import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError, errorMessage } from '../lib/errors.js';

/**
 * JSON bodies, parsed with prototype-poisoning protection: a body with `__proto__` or
 * `constructor.prototype` keys is refused (400), never merged into objects. The full scan
 * only runs when the text could spell such a key (literally or with \u escapes); other bodies
 * take plain JSON.parse, which keeps the scan off the hot path.
 */
export function installJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(new AppError('BAD_REQUEST', 'the JSON body is empty'), undefined);
    try {
      const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
      done(null, suspicious ? sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) : JSON.parse(text));
    } catch (e) {
      done(new AppError('BAD_REQUEST', `malformed JSON body: ${errorMessage(e)}`), undefined);
    }
  });
}
