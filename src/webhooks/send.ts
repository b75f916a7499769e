import { errorMessage } from '../lib/errors.js';
import { checkDestination, systemResolver, type Resolver } from './destination.js';
import { responseStart } from './response-start.js';
import { signatures } from './signing.js';

export interface SendOptions {
  timeoutMs: number;
  /** Receivers on internal addresses are allowed (WEBHOOK_ALLOW_PRIVATE); else where the name leads is checked first. */
  allowPrivate: boolean;
  resolve?: Resolver;
  /** The webhook-timestamp, in ms. */
  now: number;
}

/** How one signed POST went. */
export interface SendResult {
  /** null when no answer came (a refused connection, a timeout, a refused destination). */
  statusCode: number | null;
  /** null for a 2xx answer. */
  error: string | null;
  /** The start of a non-2xx answer's body. */
  response: string | null;
  /** A 429 or 503's Retry-After, in ms. */
  retryAfterMs?: number;
  durationMs: number;
  /** Aborted by the caller's controller (a timeout or a shutdown). */
  aborted: boolean;
  /** Not sent: this server refuses the destination (an internal address, a name that does not resolve). */
  refused?: boolean;
}

/**
 * One event POSTed to a receiver, signed as Standard Webhooks (with the previous secret too while
 * a rotation's grace lasts). `abort` lets the caller stop it (a server shutting down); the
 * timeout aborts it too. Never throws: what went wrong is in the result.
 */
export async function sendEvent(to: { url: string; secret: string; previousSecret?: string }, eventId: string, body: string, o: SendOptions, abort = new AbortController()): Promise<SendResult> {
  const timestamp = Math.floor(o.now / 1000);
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
  const started = process.hrtime.bigint();
  let statusCode: number | null = null;
  let error: string | null = null;
  let retryAfter: number | undefined;
  let response: string | null = null;
  let refused = false;
  try {
    // Checked at each attempt: a name can be pointed at an internal address after the subscription was made.
    await checkDestination(new URL(to.url), { allowPrivate: o.allowPrivate, resolve: o.resolve ?? systemResolver }).catch((e: unknown) => {
      refused = true;
      throw e;
    });
    const res = await fetch(to.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'modelgate-webhooks/1',
        'webhook-id': eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatures(to, eventId, timestamp, body),
      },
      body,
      signal: abort.signal,
      redirect: 'manual',
    });
    statusCode = res.status;
    if (res.status === 429 || res.status === 503) retryAfter = retryAfterMs(res.headers.get('retry-after'), Date.now());
    if (res.status < 200 || res.status >= 300) {
      // Redirects are not followed (the signed body would go where no subscription named), so
      // a receiver that moved (http to https, a new path) must be subscribed at its new URL.
      const moved = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      error = moved ? `HTTP ${res.status} (moved to ${URL.canParse(moved, to.url) ? new URL(moved, to.url).toString() : moved}; subscribe that URL: redirects are not followed)` : `HTTP ${res.status}`;
      // What the receiver said is what the on-call needs to fix it (a refused signature, a bad field).
      response = await responseStart(res.body);
    } else await res.body?.cancel().catch(() => undefined); // a delivery's answer is not needed
  } catch (e) {
    error = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? 'aborted') : errorMessage((e as { cause?: unknown }).cause ?? e);
  } finally {
    clearTimeout(timer);
  }
  return { statusCode, error, response, retryAfterMs: retryAfter, durationMs: Number(process.hrtime.bigint() - started) / 1e6, aborted: abort.signal.aborted, ...(refused ? { refused } : {}) };
}

/** Seconds or an HTTP date, as Retry-After may carry (RFC 9110); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
