import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLogger } from '../lib/logger.js';
import { REDIS_URL, ThrowawayRedis } from '../../test/helpers/redis.js';
import { MemoryRateLimiter } from './limiter.js';
import { parseRate } from './rate.js';
import { RedisRateLimiter, redisKey } from './redis-limiter.js';

const log = createLogger('silent');
const uniqueKey = () => `key_test_${randomBytes(6).toString('hex')}`;

describe('sliding-window limiter (in memory, injected clock)', () => {
  it('admits the limit in a fresh window, then refuses', async () => {
    let t = 10_000;
    const m = new MemoryRateLimiter(() => t);
    const rate = parseRate('5/s');
    const results = [];
    for (let i = 0; i < 8; i++) results.push((await m.hit('k', rate)).allowed);
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    t += 999;
    expect((await m.hit('k', rate)).allowed).toBe(false);
  });

  it('Retry-After is exact: the previous window decays at p per window', async () => {
    // Window [10 s, 11 s) full with 10; at 11.0 s the estimate is 10·(1 − 0) + 0 = 10, so one
    // more request needs the weight to drop by 1: 1/10 of a window = 100 ms (worked by hand).
    let t = 10_000;
    const m = new MemoryRateLimiter(() => t);
    const rate = parseRate('10/s');
    for (let i = 0; i < 10; i++) await m.hit('k', rate);
    t = 11_000;
    const refused = await m.hit('k', rate);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 100, remaining: 0, resetMs: 1000 });
    t = 11_099;
    expect((await m.hit('k', rate)).allowed).toBe(false);
    t = 11_100;
    expect((await m.hit('k', rate)).allowed).toBe(true);
  });

  it('under steady overload it admits the limit per window, spread evenly', async () => {
    let t = 0;
    const m = new MemoryRateLimiter(() => t);
    const rate = parseRate('50/s');
    const perWindow = new Map<number, number>();
    // 1 request per ms (1000/s against 50/s) for 10 s.
    for (t = 0; t < 10_000; t++) if ((await m.hit('k', rate)).allowed) perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
    for (let w = 1; w < 10; w++) expect(Math.abs(perWindow.get(w)! - 50)).toBeLessThanOrEqual(1);
    // Any 1-second span, not only aligned windows, stays near the limit.
    let inSpan = 0;
    const m2 = new MemoryRateLimiter(() => t);
    for (t = 0; t < 3_500; t++) if ((await m2.hit('k', rate)).allowed && t >= 2_500) inSpan++;
    expect(Math.abs(inSpan - 50)).toBeLessThanOrEqual(2);
  });

  it('reset clears a key; peek reads without counting', async () => {
    const t = 5_000;
    const m = new MemoryRateLimiter(() => t);
    const rate = parseRate('3/s');
    for (let i = 0; i < 3; i++) await m.hit('k', rate);
    expect(await m.peek('k', rate)).toMatchObject({ used: 3, remaining: 0 });
    expect(await m.peek('k', rate)).toMatchObject({ used: 3 });
    await m.reset('k');
    expect((await m.hit('k', rate)).allowed).toBe(true);
  });
});

describe('Redis limiter on the shared Redis', () => {
  const limiter = new RedisRateLimiter({ url: REDIS_URL, onFailure: 'closed', log });
  afterAll(() => limiter.close());

  it('one atomic script: 20 of 60 concurrent requests pass a 20/10s limit, under rate_limit:<key id>', async () => {
    expect(await limiter.ready()).toBe(true);
    const key = uniqueKey();
    const rate = parseRate('20/10s');
    const decisions = await Promise.all(Array.from({ length: 60 }, () => limiter.hit(key, rate)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    const refused = decisions.find((d) => !d.allowed)!;
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    const raw = new Redis(REDIS_URL);
    try {
      expect(await raw.hgetall(redisKey(key))).toMatchObject({ W: '10000', c: '20' });
      expect(await raw.pttl(redisKey(key))).toBeGreaterThan(10_000);
      expect(await raw.keys(`*${key}*`)).toEqual([`rate_limit:${key}`]);
    } finally {
      raw.disconnect();
    }
    expect(await limiter.peek(key, rate)).toMatchObject({ remaining: 0, limit: 20 });
    await limiter.reset(key);
    expect((await limiter.hit(key, rate)).allowed).toBe(true);
  });
});

describe('Redis limiter with chunked claims (limits of 400 and more)', () => {
  it('two processes sharing a 2000/h key admit exactly the limit, never more', async () => {
    const a = new RedisRateLimiter({ url: REDIS_URL, onFailure: 'closed', log });
    const b = new RedisRateLimiter({ url: REDIS_URL, onFailure: 'closed', log });
    try {
      expect(await a.ready()).toBe(true);
      expect(await b.ready()).toBe(true);
      const key = uniqueKey();
      // An hour's window, so the burst never straddles two windows (a 200-ms burst straddles two 10-s ones about one run in fifty).
      const rate = parseRate('2000/1h');
      const results = await Promise.all(Array.from({ length: 3000 }, (_, i) => (i % 2 ? a : b).hit(key, rate)));
      const admitted = results.filter((d) => d.allowed).length;
      // Each process claims 10 at a time (0.5 %); claimed units are spent by its own later requests.
      expect(admitted).toBeLessThanOrEqual(2000);
      expect(admitted).toBeGreaterThanOrEqual(1980);
      const refused = results.find((d) => !d.allowed)!;
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      // Redis counted what was claimed: at most the limit.
      expect((await a.peek(key, rate)).used).toBeLessThanOrEqual(2000);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('Redis limiter under a burst', () => {
  it('a burst larger than a hundred chunks at once on one process: all of it under the limit passes, the limit exactly over it', async () => {
    const a = new RedisRateLimiter({ url: REDIS_URL, onFailure: 'closed', log });
    try {
      expect(await a.ready()).toBe(true);
      // An hour's window, so the burst never straddles two windows. Chunks of 10: 1,500 requests take 150 rounds.
      const rate = parseRate('2000/1h');
      const under = uniqueKey();
      const burst = await Promise.all(Array.from({ length: 1500 }, () => a.hit(under, rate)));
      expect(burst.filter((d) => d.allowed).length).toBe(1500);
      const over = uniqueKey();
      const flood = await Promise.all(Array.from({ length: 2500 }, () => a.hit(over, rate)));
      expect(flood.filter((d) => d.allowed).length).toBe(2000);
      expect((await a.peek(over, rate)).used).toBe(2000);
    } finally {
      await a.close();
    }
  });
});

describe('Redis outage (a throwaway redis-server on a spare port)', () => {
  let redis: ThrowawayRedis;
  afterAll(() => redis?.kill());

  it('fails open, counted and logged once; enforces again by itself when Redis returns', async () => {
    redis = await ThrowawayRedis.create();
    const fallbacks: string[] = [];
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (l: string) => void lines.push(l) });
    const open = new RedisRateLimiter({ url: redis.url, onFailure: 'open', log: logger, onFallback: (p) => fallbacks.push(p), timeoutMs: 200 });
    const closed = new RedisRateLimiter({ url: redis.url, onFailure: 'closed', log: logger, timeoutMs: 200 });
    try {
      const key = uniqueKey();
      const rate = parseRate('2/10s');
      expect(await open.ready()).toBe(true);
      expect(await closed.ready()).toBe(true);
      expect((await open.hit(key, rate)).allowed).toBe(true);
      expect((await open.hit(key, rate)).allowed).toBe(true);
      expect((await open.hit(key, rate)).allowed).toBe(false);
      await redis.kill();
      const during = await Promise.all(Array.from({ length: 5 }, () => open.hit(key, rate)));
      expect(during.every((d) => d.allowed)).toBe(true);
      expect(fallbacks).toEqual(['open', 'open', 'open', 'open', 'open']);
      expect(lines.filter((l) => l.includes('failing open')).length).toBe(1);
      await expect(closed.hit(key, rate)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await redis.start();
      // Redis came back empty (no persistence): limits apply again without a restart.
      await until(async () => {
        const d = await Promise.all([open.hit(key, rate), open.hit(key, rate), open.hit(key, rate)]);
        return d.filter((x) => x.allowed).length === 2 && !d[2].allowed;
      });
      expect(lines.some((l) => l.includes('limits are enforced'))).toBe(true);
    } finally {
      await open.close();
      await closed.close();
    }
  }, 30_000);
});

describe('Redis slow, not down (CLIENT PAUSE on a throwaway redis-server)', () => {
  let redis: ThrowawayRedis;
  afterAll(() => redis?.kill());

  it("a check answers by the limiter's own timeout, by the configured policy, not after the stall", async () => {
    redis = await ThrowawayRedis.create();
    const admin = new Redis(redis.url);
    const fallbacks: string[] = [];
    const open = new RedisRateLimiter({ url: redis.url, onFailure: 'open', log, onFallback: (p) => fallbacks.push(p), timeoutMs: 250 });
    const closed = new RedisRateLimiter({ url: redis.url, onFailure: 'closed', log, onFallback: (p) => fallbacks.push(p), timeoutMs: 250 });
    try {
      const key = uniqueKey();
      const rate = parseRate('1/10s');
      expect(await open.ready()).toBe(true);
      expect(await closed.ready()).toBe(true);
      expect((await open.hit(key, rate)).allowed).toBe(true);
      expect((await open.hit(key, rate)).allowed).toBe(false);
      // Redis holds every client's commands for 6 s: connected, but not answering.
      const STALL_MS = 6_000;
      await admin.call('CLIENT', 'PAUSE', String(STALL_MS), 'ALL');
      const stalledAt = Date.now();
      const [o, c] = await Promise.all([open.hit(key, rate), closed.hit(key, rate).catch((e: unknown) => e)]);
      const waited = Date.now() - stalledAt;
      // Fail open admits (the key was over its limit: only the policy lets it through); closed refuses with 503.
      expect(o.allowed).toBe(true);
      expect(c).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/rate limits cannot be checked/) });
      expect(fallbacks.sort()).toEqual(['closed', 'open']);
      // Answered by the 250 ms timeout, long before the stall ends (a wide margin for a loaded machine).
      expect(waited).toBeLessThan(STALL_MS / 2);
      // After the stall Redis answers again and the limit holds (the key is still over it).
      await until(async () => (await open.hit(key, rate)).allowed === false, 15_000);
    } finally {
      admin.disconnect();
      await open.close();
      await closed.close();
    }
  }, 30_000);
});

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not met in time');
}
