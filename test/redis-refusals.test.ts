import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, parseRate, type RateLimiter } from '../src/access/index.js';
import { createLogger } from '../src/lib/logger.js';
import { runCli } from './helpers/cli.js';
import { randomId, tempDir } from './helpers/db.js';
import { ThrowawayRedis } from './helpers/redis.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** Polls until cond holds (the limiter tries Redis again every 2 s; a loaded machine takes longer); false after 30 s. */
async function eventually(cond: () => boolean | Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await cond()) return true;
  return cond();
}

type Line = { level: string; msg: string; err?: string };

/**
 * Redis reachable and connected, but refusing the limiter's commands: full under noeviction
 * (OOM), or an ACL user without the script's commands (NOPERM). Each on a throwaway
 * redis-server: the shared one is never filled or restricted.
 */
describe('Redis connected but refusing the counts', () => {
  let redis: ThrowawayRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await ThrowawayRedis.create();
    admin = new Redis(redis.url);
  }, 30_000);
  afterAll(async () => {
    admin?.disconnect();
    await redis?.kill();
  });

  it('full (OOM under noeviction): requests pass by the policy, /health and the log say why and what to change, the CLI still reads counts; raising maxmemory clears it with no request', async () => {
    const logged: Line[] = [];
    const s: TestServer = await startTestServer({ jobs: false, env: { REDIS_URL: redis.url }, log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l)) }) });
    const whoami = async (token: string) => (await s.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${token}` } })).statusCode;
    const health = async () => {
      const [h, r] = await Promise.all([s.app.inject({ method: 'GET', url: '/health' }), s.app.inject({ method: 'GET', url: '/readyz' })]);
      return { health: h.json(), ready: r.json() };
    };
    try {
      const counted = await s.ctx.access.create({ name: randomId('counted'), scopes: ['read'], rate: '1/m', actor: 't' });
      expect([await whoami(counted.token), await whoami(counted.token)]).toEqual([200, 429]);

      // Redis's memory is over its limit from now on, and noeviction (its default) refuses every write.
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      const other = await s.ctx.access.create({ name: randomId('other'), scopes: ['read'], rate: '1/m', actor: 't' });
      // Over its 1/m: only the open policy lets the second through.
      expect([await whoami(other.token), await whoami(other.token)]).toEqual([200, 200]);
      const during = await health();
      expect(during.health).toMatchObject({
        status: 'degraded',
        rate_limits: {
          enforced: false,
          policy: 'open',
          since: expect.stringMatching(/^\d{4}-/),
          error: expect.stringMatching(/^Redis is full \(OOM command not allowed when used memory > 'maxmemory'\): .*raise maxmemory, or set maxmemory-policy to volatile-lru/),
        },
      });
      // Redis's own suffix naming the script's hash and line means nothing to an operator.
      expect(during.health.rate_limits.error).not.toMatch(/script:|user_script/);
      expect(during.ready.warnings).toEqual([expect.stringMatching(/^rate limits cannot be counted in Redis since .*Redis is full.*RATE_LIMIT_FAIL=open\)$/)]);
      const said = logged.filter((l) => l.level === 'error');
      expect(said.map((l) => l.msg)).toEqual([expect.stringMatching(/^Redis cannot answer rate-limit checks \(Redis is full .*\); failing open until it does$/)]);

      // Reading the counts writes nothing, so a full Redis still answers it: the first key used its 1.
      const shown = await runCli(['ratelimit', 'show', '--key', counted.key.id, '--json'], s.env);
      expect(shown.code, shown.stderr).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ backend: 'redis', limit: 1, used: 1, remaining: 0 });

      // The advice followed: room again. No request comes; the limiter's own try finds it.
      await admin.config('SET', 'maxmemory', '0');
      expect(await eventually(async () => (await health()).health.status === 'healthy')).toBe(true);
      const after = await health();
      expect(after.health.rate_limits).toBeUndefined();
      expect(after.ready.warnings).toBeUndefined();
      expect(logged.some((l) => l.level === 'warn' && /Redis answers rate-limit checks again; limits are enforced/.test(l.msg))).toBe(true);
      const third = await s.ctx.access.create({ name: randomId('third'), scopes: ['read'], rate: '1/m', actor: 't' });
      expect([await whoami(third.token), await whoami(third.token)]).toEqual([200, 429]);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      await s.stop();
    }
  }, 90_000);

  it("an ACL user without the script's commands (NOPERM): refused by the policy with the grant to give; the grant given, limits are counted, read and reset", async () => {
    const user = randomId('mg').replace(/[^a-z0-9_]/gi, '');
    // What a restricted service account often starts with: reads only.
    await admin.call('ACL', 'SETUSER', user, 'on', '>pw-0123456789', '~*', '+@read', '+info', '+ping');
    const url = `redis://${user}:pw-0123456789@127.0.0.1:${redis.port}`;
    const lines: Line[] = [];
    const limiters: RateLimiter[] = [];
    const limiter = () => {
      const l = createRateLimiter({ redisUrl: url, onFailure: 'closed', log: createLogger('info', { write: (x: string) => void lines.push(JSON.parse(x)) }) });
      limiters.push(l);
      return l;
    };
    try {
      const l = limiter();
      expect(await l.ready(10_000)).toBe(true);
      const rate = parseRate('1/m');
      await expect(l.hit(randomId('key'), rate)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      const reason = l.unavailableReason();
      expect(reason).toMatch(
        /^REDIS_URL's user may not run the rate limiter's commands \(NOPERM this user has no permissions to run the '(evalsha|eval)' command\): grant them with ACL SETUSER <user> /,
      );
      expect(l.outage()).toEqual({ since: expect.stringMatching(/^\d{4}-/), error: reason });

      // The CLI says the same for a read and a reset.
      const env = { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: url, MODELGATE_AUTH: 'off' };
      const made = await runCli(['keys', 'create', '--name', 'limited', '--scopes', 'infer', '--rate', '5/s', '--json'], env);
      expect(made.code, made.stderr).toBe(0);
      const keyId = (JSON.parse(made.stdout) as { key: { id: string } }).key.id;
      for (const verb of ['show', 'reset']) {
        const r = await runCli(['ratelimit', verb, '--key', keyId], env);
        expect([r.code, r.stderr.trim()]).toEqual([1, expect.stringMatching(/REDIS_URL's user may not run the rate limiter's commands \(NOPERM .*\): grant them with ACL SETUSER <user> \+evalsha/)]);
      }

      // Exactly the rules the message names, and nothing else, make every use of the limiter work.
      const rules = /ACL SETUSER <user> (.*)$/.exec(reason!)![1]!.split(' ');
      await admin.call('ACL', 'SETUSER', user, 'resetkeys', '-@all', ...rules);
      expect(await eventually(() => l.unavailableReason() === undefined)).toBe(true);
      const key = randomId('key');
      expect([(await l.hit(key, rate)).allowed, (await l.hit(key, rate)).allowed]).toEqual([true, false]);
      expect(await l.peek(key, rate)).toMatchObject({ used: 1, remaining: 0 });
      await l.reset(key);
      expect((await l.hit(key, rate)).allowed).toBe(true);
      // A limiter that starts with the grant in place works from its first request.
      const fresh = limiter();
      expect(await fresh.ready(10_000)).toBe(true);
      expect([(await fresh.hit(key, rate)).allowed, fresh.unavailableReason()]).toEqual([false, undefined]);
      expect(lines.filter((x) => x.level === 'error').map((x) => x.msg)).toEqual([expect.stringMatching(/^Redis cannot answer rate-limit checks \(REDIS_URL's user may not run/)]);
    } finally {
      await Promise.all(limiters.map((l) => l.close()));
      await admin.call('ACL', 'DELUSER', user);
    }
  }, 90_000);
});
