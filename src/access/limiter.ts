import { LRUCache } from 'lru-cache';
import type { Rate } from './rate.js';

/** The outcome of counting one request against a key's rate. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the current window after this one. */
  remaining: number;
  /** Until the current window ends (ms). */
  resetMs: number;
  /** Refused only: how long until a request would be allowed again (ms). */
  retryAfterMs: number;
}

/** A key's counters as the limiter sees them now, without counting a request. */
export interface RateState {
  key: string;
  limit: number;
  windowMs: number;
  /** Estimated requests in the sliding window ending now. */
  used: number;
  remaining: number;
  resetMs: number;
}

/**
 * Per-key sliding-window rate limits. Implementations: in memory (one process) and Redis
 * (shared by every replica). Keys are API key ids, never tokens.
 */
export interface RateLimiter {
  readonly backend: 'memory' | 'redis';
  hit(key: string, rate: Rate): Promise<RateDecision>;
  peek(key: string, rate: Rate): Promise<RateState>;
  reset(key: string): Promise<void>;
  /** Resolves true once the backend can answer (at once for memory), false after timeoutMs. */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Why the backend cannot answer now, with what to do about it; undefined when it can. */
  unavailableReason(): string | undefined;
  /** While the backend cannot answer: since when (ISO) and why (for /health); undefined when it can. */
  outage(): { since: string; error: string } | undefined;
  close(): Promise<void>;
}

/** Counters of one key: the current fixed window's index and count, and the previous window's count. */
export interface WindowCounts {
  /** Window size the counts were made with: a key whose rate changed starts afresh. */
  W: number;
  w: number;
  c: number;
  p: number;
}

/**
 * The sliding-window counter (as Cloudflare and others use it): the previous window's count,
 * weighted by how much of it still overlaps the sliding window, plus the current count.
 * Constant memory per key, and under steady overload it admits `limit` requests per window,
 * spread evenly. The Redis script in redis-limiter.ts is the same arithmetic in Lua.
 */
export function slide(s: WindowCounts | undefined, now: number, windowMs: number): WindowCounts {
  const idx = Math.floor(now / windowMs);
  if (!s || s.W !== windowMs || s.w < idx - 1 || s.w > idx) return { W: windowMs, w: idx, c: 0, p: 0 };
  if (s.w === idx - 1) return { W: windowMs, w: idx, c: 0, p: s.c };
  return s;
}

export function decide(s: WindowCounts, now: number, rate: Rate): { next: WindowCounts; decision: RateDecision } {
  const W = rate.windowMs;
  const L = rate.limit;
  const windowEnd = (s.w + 1) * W;
  const elapsed = (now - s.w * W) / W;
  const estimate = s.p * (1 - elapsed) + s.c;
  const resetMs = windowEnd - now;
  if (estimate + 1 <= L) {
    return { next: { ...s, c: s.c + 1 }, decision: { allowed: true, limit: L, remaining: Math.max(0, Math.floor(L - estimate - 1)), resetMs, retryAfterMs: 0 } };
  }
  return { next: s, decision: { allowed: false, limit: L, remaining: 0, resetMs, retryAfterMs: retryAfter(s, now, rate, estimate) } };
}

/** How long until the estimate has room for one more request. */
function retryAfter(s: WindowCounts, now: number, rate: Rate, estimate: number): number {
  const W = rate.windowMs;
  const L = rate.limit;
  const windowEnd = (s.w + 1) * W;
  const need = estimate + 1 - L;
  // Within this window the previous count's weight decays at p per window.
  if (s.p > 0) {
    const dt = (need / s.p) * W;
    if (now + dt <= windowEnd) return Math.ceil(dt);
  }
  // Next window: this window's count becomes the decaying one.
  const frac = s.c > 0 ? Math.max(0, 1 - (L - 1) / s.c) : 0;
  return Math.ceil(windowEnd - now + frac * W);
}

export function stateOf(key: string, s: WindowCounts, now: number, rate: Rate): RateState {
  const elapsed = (now - s.w * rate.windowMs) / rate.windowMs;
  const used = s.p * (1 - elapsed) + s.c;
  return { key, limit: rate.limit, windowMs: rate.windowMs, used: Math.round(used * 100) / 100, remaining: Math.max(0, Math.floor(rate.limit - used)), resetMs: (s.w + 1) * rate.windowMs - now };
}

/** One process's limits, for a single server or a laptop; replicas each count their own. */
export class MemoryRateLimiter implements RateLimiter {
  readonly backend = 'memory' as const;
  private readonly counts = new LRUCache<string, WindowCounts>({ max: 100_000 });

  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, rate: Rate): Promise<RateDecision> {
    const t = this.now();
    const { next, decision } = decide(slide(this.counts.get(key), t, rate.windowMs), t, rate);
    this.counts.set(key, next);
    return decision;
  }

  async peek(key: string, rate: Rate): Promise<RateState> {
    const t = this.now();
    return stateOf(key, slide(this.counts.get(key), t, rate.windowMs), t, rate);
  }

  async reset(key: string): Promise<void> {
    this.counts.delete(key);
  }

  async ready(): Promise<boolean> {
    return true;
  }

  outage(): undefined {
    return undefined;
  }

  unavailableReason(): undefined {
    return undefined;
  }

  async close(): Promise<void> {}
}
