import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { AppError } from '../lib/errors.js';
import { routeHooks } from '../lib/route-hooks.js';
import type { Principal } from './credentials.js';
import type { RateLimiter } from './limiter.js';
import { parseRate, type Rate } from './rate.js';

export interface RateLimitOptions {
  limiter: RateLimiter;
  /** For principals without a rate of their own; undefined: they are not limited. */
  defaultRate?: Rate;
  /** Told each 429, with the principal refused. */
  onLimited?: (principal: Principal) => void;
}

/** The admin token is the operator's way in during an incident: never throttled. */
const exempt = (p: Principal) => p.kind === 'admin-token' || p.kind === 'anonymous';

/**
 * Counts every authenticated request against its key's rate (per API key or service token
 * id) and answers 429 with Retry-After over the limit. Every limited response carries the
 * IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
 * Install after installAuth and before any route is added.
 */
export function installRateLimit(app: FastifyInstance, o: RateLimitOptions): void {
  const rates = new Map<string, Rate>();
  const rateOf = (p: Principal): Rate | undefined => {
    if (!p.rateLimit) return o.defaultRate;
    let r = rates.get(p.rateLimit);
    if (!r) {
      r = parseRate(p.rateLimit);
      rates.set(p.rateLimit, r);
    }
    return r;
  };
  // Callback style: callers that are not limited (the admin token, keys without a rate) pass
  // without a promise on the hot path.
  const limit: onRequestHookHandler = (request, reply, done) => {
    const p = request.principal;
    const rate = p && !exempt(p) ? rateOf(p) : undefined;
    if (!p || !rate) return done();
    o.limiter.hit(p.id, rate).then((d) => {
      reply.header('ratelimit-policy', `"per-key";q=${rate.limit};w=${Math.max(1, Math.ceil(rate.windowMs / 1000))}`);
      reply.header('ratelimit', `"per-key";r=${d.remaining};t=${Math.max(0, Math.ceil(d.resetMs / 1000))}`);
      if (d.allowed) return done();
      const seconds = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      reply.header('retry-after', String(seconds));
      o.onLimited?.(p);
      done(new AppError('RATE_LIMITED', `rate limit of ${rate.text} exceeded for ${p.id}; retry after ${seconds} s`, { limit: rate.text, retry_after_seconds: seconds }));
    }, done);
  };
  // Only routes that take credentials have a principal to count; each gets the hook after its
  // auth hook (installAuth's onRoute hook ran first, so the principal is known).
  app.addHook('onRoute', (route) => {
    if ((route.config?.scope ?? 'public') === 'public') return;
    route.onRequest = [...routeHooks(route.onRequest), limit];
  });
}
