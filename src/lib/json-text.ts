import sjson from 'secure-json-parse';
import { AppError, errorMessage } from './errors.js';

/** A JSON body's value; a body that is empty, not JSON or sets `__proto__` is a 400 AppError. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new AppError('BAD_REQUEST', 'the JSON body is empty');
  try {
    const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
    return suspicious ? sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) : JSON.parse(text);
  } catch (e) {
    // Python's json.dumps (and so httpx's json=) writes a missing float as a bare NaN.
    const bare = /NaN|Infinity/.test(text) ? firstNonFinite(text) : undefined;
    if (bare)
      throw new AppError(
        'BAD_REQUEST',
        `malformed JSON body: ${bare.token} at position ${bare.at} is not JSON (Python's json.dumps writes it for a missing or infinite float); send null for a missing value`,
      );
    throw new AppError('BAD_REQUEST', `malformed JSON body: ${parseProblem(e)}; send one JSON object`);
  }
}

/** A string literal, or NaN / ±Infinity outside one. */
const NON_FINITE = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

/** The first NaN or ±Infinity outside a string literal, and where it is. */
export function firstNonFinite(text: string): { token: string; at: number } | undefined {
  for (const m of text.matchAll(NON_FINITE)) if (m[0][0] !== '"') return { token: m[0], at: m.index };
  return undefined;
}

/** The text with each NaN outside a string literal as null, and ±Infinity as ±1e999 (which parses to ±Infinity). */
export function nonFiniteAsJson(text: string): string {
  return text.replace(NON_FINITE, (m) => (m[0] === '"' ? m : m === 'NaN' ? 'null' : m[0] === '-' ? '-1e999' : '1e999'));
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
