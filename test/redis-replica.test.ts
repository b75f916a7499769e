import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, parseRate, type RateLimiter } from '../src/access/index.js';
import { createLogger } from '../src/lib/logger.js';
import { randomId } from './helpers/db.js';
import { ThrowawayRedis } from './helpers/redis.js';

const cli = (r: ThrowawayRedis, ...args: string[]) =>
  execFileSync('redis-cli', ['-p', String(r.port), ...args])
    .toString()
    .trim();

/** Polls until cond holds (a real reconnect takes its time on a loaded machine); false after 30 s. */
async function eventually(cond: () => boolean): Promise<boolean> {
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) if (cond()) return true;
  return cond();
}

/**
 * A primary and a replica of the test's own, as a replicated Redis is (Sentinel-managed, or a
 * managed service's non-cluster mode): a replica refuses every write with READONLY, and after a
 * failover the old primary is one.
 */
describe('rate limits and Redis replicas', () => {
  let primary: ThrowawayRedis;
  let replica: ThrowawayRedis;
  const limiters: RateLimiter[] = [];
  const lines: { level: string; msg: string }[] = [];
  const limiter = (url: string) => {
    const l = createRateLimiter({ redisUrl: url, onFailure: 'closed', log: createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s)) }) });
    limiters.push(l);
    return l;
  };
  const enforced = async (l: RateLimiter) => {
    const key = randomId('key');
    return [(await l.hit(key, parseRate('1/m'))).allowed, (await l.hit(key, parseRate('1/m'))).allowed];
  };
  beforeAll(async () => {
    [primary, replica] = await Promise.all([ThrowawayRedis.create(), ThrowawayRedis.create()]);
    cli(replica, 'replicaof', '127.0.0.1', String(primary.port));
  }, 30_000);
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await Promise.all([primary?.kill(), replica?.kill()]);
  });

  it('REDIS_URL at a replica: not ready, the reason names its primary and what to change; limits work once it is promoted, without a restart', async () => {
    lines.length = 0;
    const l = limiter(replica.url);
    expect(await l.ready(10_000)).toBe(false);
    expect(l.unavailableReason()).toMatch(new RegExp(`^REDIS_URL leads to a read-only replica \\(of 127\\.0\\.0\\.1:${primary.port}\\).*point REDIS_URL at the primary`));
    await expect(l.hit(randomId('key'), parseRate('1/m'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(lines.filter((x) => x.level === 'error').map((x) => x.msg)).toEqual([expect.stringMatching(/read-only replica.*rate limits fail closed until then$/)]);

    cli(replica, 'replicaof', 'no', 'one');
    expect(await eventually(() => l.unavailableReason() === undefined)).toBe(true);
    expect(await enforced(l)).toEqual([true, false]);
    expect(lines.some((x) => x.level === 'warn' && /Redis answers rate-limit checks again/.test(x.msg))).toBe(true);
    // Back as it was for the next test.
    cli(replica, 'replicaof', '127.0.0.1', String(primary.port));
  }, 60_000);

  it('a failover under a connected limiter: the demoted primary refuses a count (READONLY), the limiter reconnects and says so, and counts again once it is primary', async () => {
    const l = limiter(primary.url);
    expect(await l.ready(10_000)).toBe(true);
    expect(await enforced(l)).toEqual([true, false]);
    // The failover: the replica is promoted and the old primary follows it.
    cli(replica, 'replicaof', 'no', 'one');
    cli(primary, 'replicaof', '127.0.0.1', String(replica.port));
    await expect(l.hit(randomId('key'), parseRate('1/m'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // The connection is made again and finds a replica, instead of failing every check on the old one.
    expect(await eventually(() => /read-only replica/.test(l.unavailableReason() ?? ''))).toBe(true);
    // Failed back: the same address is the primary again.
    cli(primary, 'replicaof', 'no', 'one');
    expect(await eventually(() => l.unavailableReason() === undefined)).toBe(true);
    expect(await enforced(l)).toEqual([true, false]);
  }, 60_000);
});
