import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError, errorMessage } from '../lib/errors.js';

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

/**
 * JSON bodies, parsed with prototype-poisoning protection: a body with `__proto__` or
 * `constructor.prototype` keys is refused (400), never merged into objects. The full scan
 * only runs when the text could spell such a key (literally or with \u escapes); other bodies
 * take plain JSON.parse, which keeps the scan off the hot path.
 */
export function installJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json']);
  app.decorateRequest('bodyText', null);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length <= BODY_TEXT_KEPT) request.bodyText = text;
    if (text.length === 0) return done(new AppError('BAD_REQUEST', 'the JSON body is empty'), undefined);
    try {
      const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
      done(null, suspicious ? sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) : JSON.parse(text));
    } catch (e) {
      done(new AppError('BAD_REQUEST', `malformed JSON body: ${parseProblem(e)}; send one JSON object`), undefined);
    }
  });
}

/**
 * What was wrong with a body, without quoting it: V8's messages include a snippet of the input
 * (`Unexpected token 'P', "PAYLOAD…"... is not valid JSON`), and this message is logged.
 */
export function parseProblem(e: unknown): string {
  const m = errorMessage(e);
  const at = /at position (\d+)|line (\d+) column (\d+)/.exec(m);
  const where = at ? (at[1] !== undefined ? ` at position ${at[1]}` : ` at line ${at[2]} column ${at[3]}`) : '';
  if (/prototype|constructor/i.test(m)) return 'it sets __proto__ or constructor.prototype, which is refused';
  if (/Unexpected end of JSON input/.test(m)) return `it ends too early${where}`;
  if (/^Expected /.test(m)) return `${m.replace(/ in JSON at position \d+.*$/, '').replace(/ after .*$/, '')}${where}`;
  return `it is not valid JSON${where}`;
}
