import { Redis } from 'ioredis';
import { AppError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { MemoryRateLimiter, type RateDecision, type RateLimiter, type RateState } from './limiter.js';
import type { Rate } from './rate.js';

/**
 * The sliding-window counter of limiter.ts, in one Lua script so that reading and counting are
 * one atomic step for every replica. Time comes from Redis (TIME), so replicas with skewed
 * clocks still share windows. State is one hash per key: W (window ms), w (window index),
 * c (count in window w), p (count in window w-1); it expires two windows after its last use.
 * ARGV: window ms, limit, 1 to count a request or 0 to only read.
 * Returns: allowed (1/0), remaining, retry-after ms, reset ms, used (×100, rounded).
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local count = ARGV[3] == '1'
local idx = math.floor(now / W)
local h = redis.call('HMGET', KEYS[1], 'W', 'w', 'c', 'p')
local sw, c, p = tonumber(h[2]), tonumber(h[3]) or 0, tonumber(h[4]) or 0
if tonumber(h[1]) ~= W or sw == nil or sw < idx - 1 or sw > idx then
  c, p = 0, 0
elseif sw == idx - 1 then
  p, c = c, 0
end
local window_end = (idx + 1) * W
local elapsed = (now - idx * W) / W
local estimate = p * (1 - elapsed) + c
local used = math.floor(estimate * 100 + 0.5)
if not count then
  return {0, math.max(0, math.floor(L - estimate)), 0, window_end - now, used}
end
if estimate + 1 <= L then
  c = c + 1
  redis.call('HSET', KEYS[1], 'W', W, 'w', idx, 'c', c, 'p', p)
  redis.call('PEXPIRE', KEYS[1], 2 * W)
  return {1, math.max(0, math.floor(L - estimate - 1)), 0, window_end - now, used}
end
redis.call('HSET', KEYS[1], 'W', W, 'w', idx, 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], 2 * W)
local need = estimate + 1 - L
local retry = -1
if p > 0 then
  local dt = need / p * W
  if now + dt <= window_end then retry = math.ceil(dt) end
end
if retry < 0 then
  local frac = 0
  if c > 0 then frac = math.max(0, 1 - (L - 1) / c) end
  retry = math.ceil(window_end - now + frac * W)
end
return {0, 0, retry, window_end - now, used}
`;

export const redisKey = (key: string) => `rate_limit:${key}`;

export interface RedisLimiterOptions {
  url: string;
  /** What to do when Redis cannot answer: allow the request (open) or refuse it with 503 (closed). */
  onFailure: 'open' | 'closed';
  log: Logger;
  /** Longest a check may wait for Redis before the failure policy applies (ms). */
  timeoutMs?: number;
  /** Told each time Redis could not answer and the failure policy applied. */
  onFallback?: (policy: 'open' | 'closed') => void;
}

type Reply = [number, number, number, number, number];

interface ScriptedRedis extends Redis {
  modelgateRate(key: string, windowMs: number, limit: number, count: '1' | '0'): Promise<Reply>;
}

/**
 * Limits shared by every replica through Redis. Fails open by default: when Redis is down or
 * slow, requests are allowed (counted by onFallback, logged once per outage) and limits come
 * back by themselves when Redis does. With onFailure 'closed' they get 503 instead.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly backend = 'redis' as const;
  private readonly redis: ScriptedRedis;
  private outage = false;

  constructor(private readonly o: RedisLimiterOptions) {
    this.redis = new Redis(o.url, {
      // Never queue checks while disconnected: the failure policy answers at once instead.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.timeoutMs ?? 250,
      enableAutoPipelining: true,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    }) as ScriptedRedis;
    this.redis.defineCommand('modelgateRate', { numberOfKeys: 1, lua: SCRIPT });
    // Errors surface through the failure policy; without a listener ioredis would print each one.
    this.redis.on('error', () => undefined);
  }

  private async run(key: string, rate: Rate, count: boolean): Promise<Reply> {
    // Disconnected: answer by the failure policy at once rather than wait out a timeout per request.
    if (this.redis.status !== 'ready') throw new Error(`Redis connection is ${this.redis.status}`);
    const reply = await this.redis.modelgateRate(redisKey(key), rate.windowMs, rate.limit, count ? '1' : '0');
    if (this.outage) {
      this.outage = false;
      this.o.log.warn('Redis answers rate-limit checks again; limits are enforced');
    }
    return reply;
  }

  /** Resolves once connected, or after timeoutMs (then checks follow the failure policy until Redis answers). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    if (this.redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  async hit(key: string, rate: Rate): Promise<RateDecision> {
    try {
      const [allowed, remaining, retry, reset] = await this.run(key, rate, true);
      return { allowed: allowed === 1, limit: rate.limit, remaining, resetMs: reset, retryAfterMs: retry };
    } catch (e) {
      if (!this.outage) {
        this.outage = true;
        this.o.log.error({ err: errorMessage(e), policy: this.o.onFailure }, `Redis cannot answer rate-limit checks; failing ${this.o.onFailure} until it does`);
      }
      this.o.onFallback?.(this.o.onFailure);
      if (this.o.onFailure === 'closed') throw new AppError('UNAVAILABLE', 'rate limits cannot be checked right now (Redis is unreachable); retry shortly');
      return { allowed: true, limit: rate.limit, remaining: rate.limit, resetMs: rate.windowMs, retryAfterMs: 0 };
    }
  }

  async peek(key: string, rate: Rate): Promise<RateState> {
    const [, remaining, , reset, used] = await this.run(key, rate, false).catch((e) => {
      throw new AppError('UNAVAILABLE', `cannot read rate-limit state from Redis: ${errorMessage(e)}`);
    });
    return { key, limit: rate.limit, windowMs: rate.windowMs, used: used / 100, remaining, resetMs: reset };
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(redisKey(key)).catch((e) => {
      throw new AppError('UNAVAILABLE', `cannot reset the rate limit in Redis: ${errorMessage(e)}`);
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

export function createRateLimiter(o: { redisUrl?: string; onFailure: 'open' | 'closed'; log: Logger; onFallback?: (policy: 'open' | 'closed') => void }): RateLimiter {
  return o.redisUrl ? new RedisRateLimiter({ url: o.redisUrl, onFailure: o.onFailure, log: o.log, onFallback: o.onFallback }) : new MemoryRateLimiter();
}
