import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the secret is whsec_ + base64
 * of the key bytes; the signature is v1, + base64(HMAC-SHA256(key, "id.timestamp.body")).
 */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export function secretKey(secret: string): Buffer {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m) throw new Error('a webhook secret is whsec_ followed by base64');
  return Buffer.from(m[1], 'base64');
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/**
 * The webhook-signature header: the current secret's signature, then during a rotation's grace
 * the previous secret's, space-separated as Standard Webhooks allows, so a receiver checking
 * either secret accepts the delivery.
 */
export function signatures(s: { secret: string; previousSecret?: string }, id: string, timestamp: number, body: string): string {
  const current = sign(s.secret, id, timestamp, body);
  return s.previousSecret ? `${current} ${sign(s.previousSecret, id, timestamp, body)}` : current;
}

/** What a receiver does: true when one of the space-separated v1 signatures matches. */
export function verify(secret: string, id: string, timestamp: number, body: string, header: string): boolean {
  const want = Buffer.from(sign(secret, id, timestamp, body));
  return header.split(' ').some((s) => {
    const got = Buffer.from(s);
    return got.length === want.length && timingSafeEqual(got, want);
  });
}
