import sjson from 'secure-json-parse';
import { AppError, errorMessage } from './errors.js';

/**
 * How deeply a JSON body's arrays and objects may nest. A row is flat and the deepest request
 * (an Open Inference Protocol body, a canary's rules) nests five levels; JSON.parse itself takes
 * any depth, but what walks the value afterwards recurses: JSON.stringify overflows the stack at
 * about 4,000 levels, so an unknown payload field nested that deep was scored, then failed with a
 * 500, and one nested a little less was audited and made every listing of the audit log that
 * held it a 500.
 */
export const MAX_JSON_DEPTH = 64;

/** A JSON body's value; a body that is empty, not JSON, nested deeper than MAX_JSON_DEPTH or sets `__proto__` is a 400 AppError. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new AppError('BAD_REQUEST', 'the JSON body is empty');
  let value: unknown;
  try {
    const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
    value = suspicious ? sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) : JSON.parse(text);
  } catch (e) {
    // A file saved by Notepad or PowerShell's Out-File starts with a UTF-8 byte order mark, which
    // `curl --data-binary @file` sends as it is; RFC 8259 lets a parser ignore it.
    if (text.charCodeAt(0) === 0xfeff) return parseJsonBody(text.slice(1));
    // Python's json.dumps (and so httpx's json=) writes a missing float as a bare NaN.
    const bare = /NaN|Infinity/.test(text) ? firstNonFinite(text) : undefined;
    if (bare)
      throw new AppError(
        'BAD_REQUEST',
        `malformed JSON body: ${bare.token} at position ${bare.at} is not JSON (Python's json.dumps writes it for a missing or infinite float); send null for a missing value`,
      );
    throw new AppError('BAD_REQUEST', `malformed JSON body: ${parseProblem(e)}; send one JSON object`);
  }
  const deep = bracketsOver(text, MAX_JSON_DEPTH) ? nestedPath(value, MAX_JSON_DEPTH) : undefined;
  if (deep !== undefined)
    throw new AppError(
      'BAD_REQUEST',
      `the JSON body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep${deep.length ? ` (in ${fieldPath(deep)})` : ''}; send each feature as a number, string, boolean or null`,
    );
  return value;
}

/** Whether `text` holds more than `limit` brackets and braces: only then can it nest that deep. A few native searches. */
function bracketsOver(text: string, limit: number): boolean {
  if (text.length <= 2 * limit) return false;
  let n = 0;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++n > limit) return true;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++n > limit) return true;
  return false;
}

/** `payload.meta[0][0]…`: the first members of a path, as a field is named in error messages. */
const fieldPath = (path: (string | number)[]) => path.slice(0, 3).reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '') + (path.length > 3 ? '…' : '');

/**
 * The keys (array indexes as numbers) down to the first array or object nested more than
 * `levels` deep in `v` (`v` itself is level 1; [] when `v` is that one), or undefined.
 * Recursion no deeper than `levels`.
 */
export function nestedPath(v: unknown, levels: number): (string | number)[] | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  if (levels === 0) return [];
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const below = nestedPath(v[i], levels - 1);
      if (below) return [i, ...below];
    }
  } else
    for (const k in v) {
      const below = nestedPath((v as Record<string, unknown>)[k], levels - 1);
      if (below) return [k, ...below];
    }
  return undefined;
}

/**
 * A body whose bytes are not UTF-8: Latin-1 or Windows-1252 text (`é` as the one byte E9), or
 * UTF-16. Decoded as UTF-8, each such byte became U+FFFD, so "Français" reached the model as
 * "Fran\uFFFDais", an unseen category, and was audited so.
 */
export function notUtf8(contentType: string | undefined): AppError {
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  return new AppError(
    'BAD_REQUEST',
    `the body's bytes are not UTF-8${charset && !/^utf-?8$/i.test(charset) ? ` (it says charset=${charset})` : ''}: Latin-1, Windows-1252 or UTF-16 text? JSON is read as UTF-8 (RFC 8259); encode the body as UTF-8`,
  );
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
