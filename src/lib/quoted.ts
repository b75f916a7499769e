/** Characters of a value a message quotes before it cuts it. */
const QUOTED_CHARS = 60;

/**
 * A value the caller sent, quoted for a message or a warning: in full when short, else its first
 * characters and its length. Replies and logs quote what was sent, and a 900,000-character
 * category came back whole in the reply's warning (as big as the request, for each such field).
 */
export function quoted(value: string, max = QUOTED_CHARS): string {
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, max))}… (${value.length.toLocaleString('en-US')} characters)`;
}
