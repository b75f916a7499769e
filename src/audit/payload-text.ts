const QUOTE = 34;
const BACKSLASH = 92;
const CLOSE_BRACE = 125;

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/** Index of the quote that ends the string whose opening quote is at `from`. */
function stringEnd(text: string, from: number): number {
  let q = from;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return text.length;
    // Escaped when an odd number of backslashes stand before it.
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
  }
}

/** `json` without whitespace between tokens; strings (which hold no raw control characters) kept as they are. */
function compact(json: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(json, i);
    else if (isSpace(c)) {
      out += json.slice(from, i);
      from = i + 1;
    }
  }
  return out + json.slice(from);
}

/** A key JSON.parse would put first whatever its place in the text (an array index). */
const indexLike = (key: string) => {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57;
};

const KEY = '"payload"';

/**
 * The JSON text of a request body's `payload` member as the client sent it, cut out of the
 * body's text: JSON.stringify on the parsed payload was the largest part of recording a
 * prediction (3.5 µs of the request thread for a 19-feature row; this, 0.3 µs). `text` is a body
 * JSON.parse accepted as `body`, whose `payload` is an object. Numbers keep the client's
 * digits and strings its escapes; JSON.parse of the result gives the same values as of
 * JSON.stringify(payload), and a body JSON.stringify wrote gives the very same text. Spaces
 * between tokens are kept, unless the payload also has line breaks or tabs between tokens:
 * then all whitespace between tokens is taken out, so the text never holds a raw control
 * character (as JSON.stringify's never does, which the audit's COPY encoding relies on).
 *
 * Only the plain shape is cut: `"payload"` spelled once in the whole text (so that one is the
 * top-level key, not a repeat JSON.parse would have let win, and not a value), no \u escape
 * anywhere (a key could spell payload with one), and payload the last member, so its value
 * ends at the body's closing brace. Otherwise undefined, and the caller stringifies the payload.
 */
export function payloadText(text: string, body: object): string | undefined {
  const at = text.indexOf(KEY);
  if (at < 0 || text.indexOf(KEY, at + KEY.length) >= 0 || text.includes('\\u')) return undefined;
  let last: string | undefined;
  for (const k in body) {
    if (indexLike(k)) return undefined;
    last = k;
  }
  if (last !== 'payload') return undefined;
  let start = at + KEY.length;
  while (isSpace(text.charCodeAt(start))) start++;
  if (text.charCodeAt(start) !== 58 /* : */) return undefined;
  start++;
  while (isSpace(text.charCodeAt(start))) start++;
  if (text.charCodeAt(start) !== 123 /* { */) return undefined;
  // The body's closing brace, then the payload's.
  let end = text.length - 1;
  while (end > start && isSpace(text.charCodeAt(end))) end--;
  if (text.charCodeAt(end) !== CLOSE_BRACE) return undefined;
  end--;
  while (end > start && isSpace(text.charCodeAt(end))) end--;
  if (text.charCodeAt(end) !== CLOSE_BRACE) return undefined;
  const json = text.slice(start, end + 1);
  return json.includes('\n') || json.includes('\r') || json.includes('\t') ? compact(json) : json;
}
