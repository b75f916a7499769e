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
  // The checksum (4 bytes) is checked on every request: plain numbers, not BigInt, while they are exact.
  if (bytes.length <= 6) {
    let v = 0;
    for (const b of bytes) v = v * 256 + b;
    let out = '';
    while (v > 0) {
      out = ALPHABET[v % 62] + out;
      v = Math.floor(v / 62);
    }
    return out.padStart(width, '0');
  }
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let s = '';
  while (n > 0n) {
    s = ALPHABET[Number(n % 62n)] + s;
    n /= 62n;
  }
  return s.padStart(width, '0');
}

// crypto.hash: one call, no Hash object, on every request that carries a key.
const checksum = (body: string) => base62(hash('sha256', body, 'buffer').subarray(0, 4), CHECK_CHARS);

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
