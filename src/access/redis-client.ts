import type * as IORedis from 'ioredis';
import { lazyRequire } from '../lib/lazy-require.js';
import type { RedisTlsOptions } from './redis-tls.js';
import { closeRedisSocketsOnError } from './redis-socket-guard.js';

const ioredis = lazyRequire<typeof IORedis>('ioredis', closeRedisSocketsOnError);

/** A connection to one Redis or to a Redis Cluster, the two used alike by the limiter. */
export type RedisClient = IORedis.Redis | IORedis.Cluster;

export interface RedisClientOptions {
  /** REDIS_CLUSTER: the URL names one node of a Redis Cluster, which tells the client of the others. */
  cluster: boolean;
  /** Longest a command may wait before it fails (ms). */
  commandTimeoutMs: number;
  /** REDIS_SENTINELS: ask these for the primary the URL's host names, and follow it through failovers. */
  sentinels?: { host: string; port: number }[];
  /** REDIS_SENTINEL_PASSWORD: the Sentinels' own password, null for none; undefined: the URL's user and password. */
  sentinelPassword?: string | null;
  /** REDIS_TLS_*_FILE's contents, with rediss://: a CA to trust and a client certificate, for Redis and its Sentinels alike. */
  tls?: RedisTlsOptions;
}

/** Reconnect after 100 ms, 200 ms, … at most every 2 s. */
const retry = (times: number) => Math.min(100 * times, 2000);

/**
 * The client for REDIS_URL. Commands are never queued while disconnected: the caller's failure
 * policy answers at once instead. In a cluster each key goes to the node that owns its slot;
 * the URL's user, password and TLS (rediss://) hold for every node.
 */
export function connectRedis(url: string, o: RedisClientOptions): RedisClient {
  const { Redis, Cluster } = ioredis();
  const common = { maxRetriesPerRequest: 0, commandTimeout: o.commandTimeoutMs };
  const single = {
    ...common,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    lazyConnect: false,
    retryStrategy: retry,
    // After a failover the old primary, now a replica, keeps the connection and refuses every
    // write; a new connection to the same name reaches the new primary (a managed service's
    // primary endpoint moves with it; Sentinels are asked again), and a node that is still a
    // replica is found at 'ready'.
    reconnectOnError: (e: Error) => /^READONLY\b/.test(e.message),
  };
  const u = new URL(url);
  // rediss://: trusting what the process trusts (NODE_EXTRA_CA_CERTS) unless REDIS_TLS_CA_FILE names a CA.
  const tls = u.protocol === 'rediss:' ? (o.tls ?? {}) : undefined;
  if (o.sentinels) {
    const auth = { ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
    return new Redis({
      ...single,
      ...auth,
      sentinels: o.sentinels,
      name: decodeURIComponent(u.hostname),
      role: 'master',
      // The Sentinels take the same user and password as Redis (requirepass in sentinel.conf, as
      // Bitnami's chart sets it) unless REDIS_SENTINEL_PASSWORD says otherwise: a password sent
      // to a Sentinel without one works, but ioredis prints a plain-text warning on each connection.
      ...(o.sentinelPassword === undefined
        ? { ...(auth.username ? { sentinelUsername: auth.username } : {}), ...(auth.password ? { sentinelPassword: auth.password } : {}) }
        : o.sentinelPassword === null
          ? {}
          : { sentinelPassword: o.sentinelPassword }),
      // rediss://: TLS to the Sentinels and to the primary they name (a Sentinel's TLS port asks for the same client certificate).
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: retry,
      sentinelCommandTimeout: o.commandTimeoutMs * 4,
      // Told of a failover by the Sentinels (+switch-master), not only by the old primary's refusal.
      failoverDetector: true,
    });
  }
  if (!o.cluster) return new Redis(url, tls ? { ...single, tls } : single);
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    clusterRetryStrategy: retry,
    redisOptions: {
      ...common,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(tls ? { tls } : {}),
    },
    // A TLS cluster's nodes are reached by the names they announce, so their certificates (issued
    // for names, not addresses, by managed services) match (ioredis's advice for ElastiCache).
    ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  });
}

/**
 * Connects a cluster client to every primary now. ioredis connects to a node only at its first
 * command, which then waits for the TCP and TLS handshakes within the command timeout (250 ms):
 * on a busy machine the first checks of the keys of each node failed, by the failure policy,
 * right after start. A node that cannot be reached is left to ioredis's retries.
 */
export async function connectPrimaries(client: IORedis.Cluster): Promise<void> {
  const waiting = client.nodes('master').filter((node) => node.status === 'wait');
  await Promise.all(waiting.map((node) => node.connect().catch(() => undefined)));
}

/** Where the Redis this client reached replicates from ("host:port") when it is a read-only replica; undefined for a primary. */
export async function replicaOf(client: RedisClient): Promise<string | undefined> {
  const info = await client.info('replication');
  if (!/^role:(slave|replica)\s*$/m.test(info)) return undefined;
  const host = /^master_host:(.*?)\s*$/m.exec(info)?.[1] ?? '?';
  const port = /^master_port:(\d+)/m.exec(info)?.[1] ?? '?';
  return `${host}:${port}`;
}

/** True when the Redis this client reached is a node of a cluster (it would answer other slots' keys with MOVED). */
export async function isClusterNode(client: RedisClient): Promise<boolean> {
  const info = await client.info('cluster');
  return /^cluster_enabled:1\s*$/m.test(info);
}
