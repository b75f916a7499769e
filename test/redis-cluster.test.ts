import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, parseRate, type RateLimiter } from '../src/access/index.js';
import { createLogger } from '../src/lib/logger.js';
import { runCli } from './helpers/cli.js';
import { randomId, tempDir } from './helpers/db.js';
import { ThrowawayRedisCluster } from './helpers/redis.js';
import { issueClientCert, makeCerts } from './helpers/tls-certs.js';

const log = createLogger('silent');

/**
 * Rate limits on a Redis Cluster (three primaries of the test's own), as ElastiCache or
 * Memorystore in cluster mode are: each key lives on the node that owns its slot, and a node
 * answers the others' keys with MOVED.
 */
describe('rate limits on a Redis Cluster', () => {
  let cluster: ThrowawayRedisCluster;
  const limiters: RateLimiter[] = [];
  const limiter = (clustered: boolean) => {
    const l = createRateLimiter({ redisUrl: cluster.url, cluster: clustered, onFailure: 'closed', log });
    limiters.push(l);
    return l;
  };
  beforeAll(async () => {
    cluster = await ThrowawayRedisCluster.create();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await cluster?.kill();
  });

  it('REDIS_CLUSTER=on: every key is limited, wherever its slot lives, and reads and resets work', async () => {
    const l = limiter(true);
    expect(await l.ready(10_000)).toBe(true);
    const rate = parseRate('1/m');
    const keys = Array.from({ length: 30 }, () => randomId('key'));
    const before = cluster.keysPerNode();
    for (const k of keys) {
      expect((await l.hit(k, rate)).allowed, k).toBe(true);
      expect((await l.hit(k, rate)).allowed, k).toBe(false);
    }
    // The 30 keys were spread over the nodes, not all kept by the one the URL names.
    const added = cluster.keysPerNode().map((n, i) => n - before[i]!);
    expect(added.reduce((a, b) => a + b, 0)).toBe(30);
    expect(added.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(await l.peek(keys[0]!, rate)).toMatchObject({ limit: 1, used: 1, remaining: 0 });
    await l.reset(keys[0]!);
    expect((await l.hit(keys[0]!, rate)).allowed).toBe(true);
  }, 30_000);

  it('without it, a node of a cluster is refused with the setting to change, instead of counting a third of the keys', async () => {
    const l = limiter(false);
    expect(await l.ready(10_000)).toBe(false);
    expect(l.unavailableReason()).toMatch(/^REDIS_URL names a node of a Redis Cluster \(cluster_enabled:1\).*: set REDIS_CLUSTER=on$/);
    await expect(l.hit(randomId('key'), parseRate('1/m'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(l.reset(randomId('key'))).rejects.toThrow(/set REDIS_CLUSTER=on/);

    // The CLI says the same, and works with the setting.
    const env = { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: cluster.url, MODELGATE_AUTH: 'off' };
    const refused = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], env);
    expect(refused.json().error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('set REDIS_CLUSTER=on') });
    const clustered = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_CLUSTER: 'on' });
    expect(clustered.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no API key key_none') });
  }, 30_000);
});

/**
 * A cluster over TLS that asks for client certificates (tls-auth-clients yes, Redis's default
 * with TLS), as a self-hosted one is: the certificate and CA of REDIS_TLS_*_FILE go to every node
 * the client learns of, not only the one in the URL.
 */
describe('rate limits on a Redis Cluster over TLS with client certificates', () => {
  it('every key is limited, on all three nodes', async () => {
    const certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    const cluster = await ThrowawayRedisCluster.create({ tls: { ...certs, authClients: true } });
    const client = issueClientCert(certs, 'modelgate');
    const l = createRateLimiter({ redisUrl: cluster.url, cluster: true, tls: { caFile: certs.ca, certFile: client.cert, keyFile: client.key }, onFailure: 'closed', log });
    try {
      expect(cluster.url).toMatch(/^rediss:\/\//);
      expect(await l.ready(10_000)).toBe(true);
      // Ready means connected to every primary: not at a key's first check, which would then wait for the handshakes within the 250 ms command timeout.
      const clients = cluster.clientsPerNode();
      expect(Math.min(...clients), `connections per node: ${clients.join(', ')}`).toBeGreaterThanOrEqual(1);
      const rate = parseRate('1/m');
      const keys = Array.from({ length: 30 }, () => randomId('key'));
      for (const k of keys) {
        expect((await l.hit(k, rate)).allowed, k).toBe(true);
        expect((await l.hit(k, rate)).allowed, k).toBe(false);
      }
      // Spread over the nodes: each holds some of the keys, so each was reached with the certificate.
      expect(cluster.keysPerNode().every((n) => n > 0)).toBe(true);
    } finally {
      await l.close();
      await cluster.kill();
    }
  }, 60_000);
});
