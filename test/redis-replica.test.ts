import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, parseRate, redisKey, redisSettings, type RateLimiter } from '../src/access/index.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { runCli } from './helpers/cli.js';
import { configProblems } from './helpers/config.js';
import { randomId, tempDir } from './helpers/db.js';
import { freePort, ThrowawayRedis, ThrowawayRedisSentinel } from './helpers/redis.js';
import { resettingProxy } from './helpers/resetting-proxy.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { issueClientCert, makeCerts } from './helpers/tls-certs.js';

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
    expect(lines.filter((x) => x.level === 'error').map((x) => x.msg)).toEqual([expect.stringMatching(/read-only replica.*rate limits fail closed until then \(checked again every 2 s\)$/)]);
    // The CLI says the same, once, without the server's log line beside it.
    const shown = await runCli(['ratelimit', 'show', '--key', 'key_none'], { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: replica.url, MODELGATE_AUTH: 'off' });
    expect(shown.code).toBe(1);
    expect(shown.stderr.trim()).toMatch(
      new RegExp(
        `^error: Redis at redis://127\\.0\\.0\\.1:${replica.port} cannot count rate limits: REDIS_URL leads to a read-only replica \\(of 127\\.0\\.0\\.1:${primary.port}\\).*primary endpoint\\)$`,
      ),
    );

    cli(replica, 'replicaof', 'no', 'one');
    expect(await eventually(() => l.unavailableReason() === undefined)).toBe(true);
    expect(await enforced(l)).toEqual([true, false]);
    expect(lines.some((x) => x.level === 'warn' && /Redis answers rate-limit checks again/.test(x.msg))).toBe(true);
    // Back as it was for the next test.
    cli(replica, 'replicaof', '127.0.0.1', String(primary.port));
  }, 60_000);

  it('/health says degraded while limits cannot be counted (a replica; nothing listening), and why; /readyz stays ready with a warning', async () => {
    const health = async (s: TestServer) => {
      const [h, r] = await Promise.all([s.app.inject({ method: 'GET', url: '/health' }), s.app.inject({ method: 'GET', url: '/readyz' })]);
      return { health: h.json(), ready: { status: r.statusCode, body: r.json() } };
    };
    const onReplica = await startTestServer({ jobs: false, env: { REDIS_URL: replica.url } });
    const logged: { level: string; msg: string; code?: string; err?: unknown }[] = [];
    const nowhere = await startTestServer({
      jobs: false,
      env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_FAIL: 'closed' },
      log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l)) }),
    });
    try {
      const a = await health(onReplica);
      expect(a.health).toMatchObject({
        status: 'degraded',
        rate_limits: { enforced: false, policy: 'open', since: expect.stringMatching(/^\d{4}-/), error: expect.stringMatching(/read-only replica \(of 127\.0\.0\.1:\d+\)/) },
      });
      expect(a.ready).toMatchObject({
        status: 200,
        body: { ready: true, warnings: [expect.stringMatching(/^rate limits cannot be counted in Redis since .*; requests are allowed without a limit \(RATE_LIMIT_FAIL=open\)$/)] },
      });
      const b = await health(nowhere);
      expect(b.health).toMatchObject({ status: 'degraded', rate_limits: { enforced: false, policy: 'closed', error: expect.stringMatching(/ECONNREFUSED/) } });
      expect(b.ready.body.warnings).toEqual([expect.stringMatching(/requests with a limit are refused with 503 \(RATE_LIMIT_FAIL=closed\)$/)]);
      // Each refused request is a warning without a stack; the outage itself was said once, at start.
      const { token } = await nowhere.ctx.access.create({ name: 'limited', scopes: ['infer'], rate: '10/s', actor: 't' });
      for (let i = 0; i < 3; i++) {
        const r = await nowhere.app.inject({
          method: 'POST',
          url: '/v1/infer',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          payload: '{"model":"m","payload":{}}',
        });
        expect([r.statusCode, r.headers['retry-after']]).toEqual([503, '1']);
      }
      const refusals = logged.filter((l) => l.code === 'UNAVAILABLE');
      expect(refusals.map((l) => [l.level, l.msg, l.err])).toEqual(Array(3).fill(['warn', 'request refused: service unavailable', undefined]));
      expect(logged.filter((l) => l.level === 'error' && l.msg === 'request failed')).toEqual([]);

      // Promoted: healthy again, with nothing left of it.
      cli(replica, 'replicaof', 'no', 'one');
      let after = await health(onReplica);
      for (const until = Date.now() + 30_000; after.health.status !== 'healthy' && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) after = await health(onReplica);
      expect(after.health.status).toBe('healthy');
      expect(after.health.rate_limits).toBeUndefined();
      expect(after.ready.body.warnings).toBeUndefined();
    } finally {
      cli(replica, 'replicaof', '127.0.0.1', String(primary.port));
      await Promise.all([onReplica.stop(), nowhere.stop()]);
    }
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

describe('rate limits on a Sentinel-managed Redis (REDIS_SENTINELS)', () => {
  let redis: ThrowawayRedisSentinel;
  const limiters: RateLimiter[] = [];
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await redis?.kill();
  });
  beforeAll(async () => {
    redis = await ThrowawayRedisSentinel.create();
  }, 60_000);
  const limiter = (env: Record<string, string>) => {
    const config = loadConfig({ MODELGATE_AUTH: 'off', ...env });
    const l = createRateLimiter({ ...redisSettings(config), onFailure: 'closed', log: createLogger('silent') });
    limiters.push(l);
    return l;
  };

  it('counts on the primary the Sentinels name, and on the new one after a failover, without a restart', async () => {
    const l = limiter({ REDIS_URL: `redis://${ThrowawayRedisSentinel.NAME}`, REDIS_SENTINELS: `127.0.0.1:${redis.sentinelPort}` });
    expect(await l.ready(10_000)).toBe(true);
    const [first, second] = redis.nodes;
    const counted = (node: ThrowawayRedis, key: string) => cli(node, 'exists', redisKey(key)) === '1';
    const before = randomId('key');
    expect([(await l.hit(before, parseRate('1/m'))).allowed, (await l.hit(before, parseRate('1/m'))).allowed]).toEqual([true, false]);
    expect(counted(first, before)).toBe(true);

    await redis.failover();
    expect(await eventually(() => redis.primaryPort() === second.port)).toBe(true);
    // Checks during the switch may be refused (fail closed), or counted on the old primary before
    // it steps down (Redis's own window of lost writes); then keys count on the new primary.
    const limited = async () => {
      const key = randomId('key');
      const rate = parseRate('1/m');
      const pair = [await l.hit(key, rate).then((d) => d.allowed), await l.hit(key, rate).then((d) => d.allowed)];
      return { pair, on: counted(second, key) ? second.port : counted(first, key) ? first.port : undefined };
    };
    let after: { pair: boolean[]; on: number | undefined } | undefined;
    for (const until = Date.now() + 30_000; after?.on !== second.port && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) after = await limited().catch(() => undefined);
    expect(after).toEqual({ pair: [true, false], on: second.port });
    // And stays there: ten more keys, all limited on it, none refused for want of Redis.
    for (let i = 0; i < 10; i++) expect(await limited()).toEqual({ pair: [true, false], on: second.port });
  }, 60_000);

  it('a name the Sentinels do not monitor, and unreachable Sentinels: not ready, with the reason', async () => {
    const unknown = limiter({ REDIS_URL: 'redis://othermaster', REDIS_SENTINELS: `127.0.0.1:${redis.sentinelPort}` });
    expect(await unknown.ready(3_000)).toBe(false);
    expect(unknown.unavailableReason()).toMatch(/^the Sentinels of REDIS_SENTINELS \(127\.0\.0\.1:\d+\) know no primary named "othermaster": REDIS_URL's host must be the name/);
    const gone = limiter({ REDIS_URL: `redis://${ThrowawayRedisSentinel.NAME}`, REDIS_SENTINELS: `127.0.0.1:${await freePort()}` });
    expect(await gone.ready(3_000)).toBe(false);
    expect(gone.unavailableReason()).toMatch(/^cannot reach the Sentinels of REDIS_SENTINELS \(127\.0\.0\.1:\d+\): connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  }, 30_000);

  it('with a password (the nodes and Sentinels all asking for it): sent to both; without it, the reason says where it goes', async () => {
    const locked = await ThrowawayRedisSentinel.create({ password: 's3cret-pw' });
    try {
      const name = ThrowawayRedisSentinel.NAME;
      const sentinels = `127.0.0.1:${locked.sentinelPort}`;
      const ok = limiter({ REDIS_URL: `redis://:s3cret-pw@${name}`, REDIS_SENTINELS: sentinels });
      expect(await ok.ready(10_000)).toBe(true);
      const key = randomId('key');
      expect([(await ok.hit(key, parseRate('1/m'))).allowed, (await ok.hit(key, parseRate('1/m'))).allowed]).toEqual([true, false]);
      const without = limiter({ REDIS_URL: `redis://${name}`, REDIS_SENTINELS: sentinels });
      expect(await without.ready(3_000)).toBe(false);
      expect(without.unavailableReason()).toMatch(
        /^the Sentinels of REDIS_SENTINELS \(127\.0\.0\.1:\d+\) refused the password \(NOAUTH.*\): put the password they and Redis take in REDIS_URL \(redis:\/\/:password@mymaster\), which is sent to both, or theirs in REDIS_SENTINEL_PASSWORD when it differs$/,
      );
      const wrong = limiter({ REDIS_URL: `redis://:not-it@${name}`, REDIS_SENTINELS: sentinels });
      expect(await wrong.ready(3_000)).toBe(false);
      expect(wrong.unavailableReason()).toMatch(/refused the password \(WRONGPASS/);
    } finally {
      await locked.kill();
    }
  }, 60_000);

  it('Sentinels with a password of their own, or none (REDIS_SENTINEL_PASSWORD): each reached, and nothing printed outside the log', async () => {
    const own = await ThrowawayRedisSentinel.create({ password: 'redis-pw', sentinelPassword: 'sentinel-pw' });
    const none = await ThrowawayRedisSentinel.create({ password: 'redis-pw', sentinelPassword: null });
    try {
      const url = `redis://:redis-pw@${ThrowawayRedisSentinel.NAME}`;
      const refused = limiter({ REDIS_URL: url, REDIS_SENTINELS: `127.0.0.1:${own.sentinelPort}` });
      expect(await refused.ready(3_000)).toBe(false);
      expect(refused.unavailableReason()).toMatch(/refused the password \(WRONGPASS.*or theirs in REDIS_SENTINEL_PASSWORD when it differs$/);
      const ok = limiter({ REDIS_URL: url, REDIS_SENTINELS: `127.0.0.1:${own.sentinelPort}`, REDIS_SENTINEL_PASSWORD: 'sentinel-pw' });
      expect(await ok.ready(10_000)).toBe(true);
      const key = randomId('key');
      expect([(await ok.hit(key, parseRate('1/m'))).allowed, (await ok.hit(key, parseRate('1/m'))).allowed]).toEqual([true, false]);
      // A Sentinel without a password takes one sent anyway, but ioredis then prints "[WARN] … does not require a password" on stderr at each connection: none says not to send it.
      const env = { MODELGATE_DATA_DIR: tempDir(), MODELGATE_AUTH: 'off', REDIS_URL: url, REDIS_SENTINELS: `127.0.0.1:${none.sentinelPort}` };
      const sent = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], env);
      expect(sent.json().error).toMatchObject({ code: 'NOT_FOUND' });
      expect(sent.stderr).toContain('does not require a password');
      const quiet = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_SENTINEL_PASSWORD: 'none' });
      expect(quiet.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no API key key_none') });
      expect(quiet.stderr).toBe('');
    } finally {
      await Promise.all([own.kill(), none.kill()]);
    }
  }, 60_000);

  it('over TLS (rediss://) with client certificates: the Sentinels and the primary they name; an untrusted CA and a missing certificate are named', async () => {
    const certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    // tls-auth-clients yes, Redis's default with TLS: the Sentinels and both nodes ask for a client certificate.
    const secure = await ThrowawayRedisSentinel.create({ tls: { ...certs, authClients: true } });
    try {
      const env = { MODELGATE_DATA_DIR: tempDir(), MODELGATE_AUTH: 'off', REDIS_URL: `rediss://${ThrowawayRedisSentinel.NAME}`, REDIS_SENTINELS: `127.0.0.1:${secure.sentinelPort}` };
      const refused = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], env);
      expect(refused.json().error).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/not signed by a CA this process trusts; set REDIS_TLS_CA_FILE=\/path\/to\/ca\.pem, the CA that signed it \(or start the process with NODE_EXTRA_CA_CERTS/),
      });
      const trustedOnly = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_TLS_CA_FILE: certs.ca });
      expect(trustedOnly.json().error).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/cannot reach the Sentinels of .*: Redis asks for a client certificate and was sent none .*set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE/),
      });
      // The same with a reset after each refusal (Node reports the alert without closing the socket; ioredis's own Sentinel clients listened for one error only, and the reset crashed the process).
      const proxy = await resettingProxy(secure.sentinelPort);
      try {
        const reset = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_SENTINELS: `127.0.0.1:${proxy.port}`, REDIS_TLS_CA_FILE: certs.ca });
        expect(reset.stderr).not.toContain('Unhandled');
        expect(reset.json().error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/cannot reach the Sentinels of .*: Redis asks for a client certificate and was sent none/) });
      } finally {
        await proxy.close();
      }
      // With one (the CA signed it): past Redis (the key is what is missing now).
      const client = issueClientCert(certs, 'modelgate');
      const trusted = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_TLS_CA_FILE: certs.ca, REDIS_TLS_CERT_FILE: client.cert, REDIS_TLS_KEY_FILE: client.key });
      expect(trusted.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no API key key_none') });
    } finally {
      await secure.kill();
    }
  }, 60_000);

  it('the configuration refuses what cannot work, saying what to set', () => {
    const problems = configProblems;
    expect(problems({ REDIS_SENTINELS: 's0:26379' })).toEqual([expect.stringMatching(/^REDIS_SENTINELS is set without REDIS_URL: set REDIS_URL=redis:\/\/\[:password@\]NAME/)]);
    expect(problems({ REDIS_SENTINELS: 's0:26379', REDIS_URL: 'redis://:secret@10.0.0.5:6379' })).toEqual([expect.stringMatching(/has a port, but with REDIS_SENTINELS its host is a name/)]);
    expect(problems({ REDIS_SENTINELS: 's0:26379', REDIS_URL: 'redis://:secret@10.0.0.5:6379' }).join()).not.toContain('secret');
    expect(problems({ REDIS_SENTINELS: 's0:26379', REDIS_URL: 'rediss://:pw@mymaster:6380' })).toEqual([expect.stringMatching(/has a port, but with REDIS_SENTINELS/)]);
    expect(problems({ REDIS_SENTINELS: 's0:26379', REDIS_URL: 'rediss://:pw@mymaster' })).toEqual([]);
    expect(problems({ REDIS_SENTINELS: 's0:26379', REDIS_URL: 'redis://mymaster', REDIS_CLUSTER: 'on' })).toEqual([expect.stringMatching(/both set/)]);
    expect(problems({ REDIS_URL: 'redis://:pw@10.0.0.5:6379', REDIS_SENTINEL_PASSWORD: 'theirs' })).toEqual([
      'REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINELS: it is the password of the Sentinels listed there; set both, or unset it',
    ]);
    expect(problems({ REDIS_SENTINELS: 's0:26379,,s1', REDIS_URL: 'redis://mymaster' })).toEqual([expect.stringMatching(/^REDIS_SENTINELS=.*expected host:port of each Sentinel/)]);
    expect(loadConfig({ MODELGATE_AUTH: 'off', REDIS_SENTINELS: 's0:26380, s1,[::1]:26381', REDIS_URL: 'redis://:pw@mymaster' }).redisSentinels).toEqual([
      { host: 's0', port: 26380 },
      { host: 's1', port: 26379 },
      { host: '::1', port: 26381 },
    ]);
  });
});
