import type { Cluster } from 'ioredis';
import { AppError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { MemoryRateLimiter, type RateDecision, type RateLimiter, type RateState } from './limiter.js';
import type { Rate } from './rate.js';
import { reasonAfter, redisAdvice, redisRefusalAdvice } from './redis-advice.js';
import { readRedisTls, type RedisTlsFiles } from './redis-tls.js';
import { probeSentinel } from './sentinel-probe.js';
import { connectPrimaries, connectRedis, isClusterNode, replicaOf, type RedisClient } from './redis-client.js';

/**
 * The sliding-window counter of limiter.ts, in one Lua script so that reading and counting are
 * one atomic step for every replica. Time comes from Redis (TIME), so replicas with skewed
 * clocks still share windows. State is one hash per key: W (window ms), w (window index),
 * c (count in window w), p (count in window w-1); it expires two windows after its last use.
 * ARGV: window ms, limit, how many requests to claim (0: only read).
 * Returns: granted (0 when refused), remaining, retry-after ms, reset ms, used (×100, rounded).
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
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
if want == 0 then
  return {0, math.max(0, math.floor(L - estimate)), 0, window_end - now, used}
end
local room = math.floor(L - estimate)
if room >= 1 then
  local grant = math.min(want, room)
  c = c + grant
  redis.call('HSET', KEYS[1], 'W', W, 'w', idx, 'c', c, 'p', p)
  redis.call('PEXPIRE', KEYS[1], 2 * W)
  return {grant, room - grant, 0, window_end - now, used}
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
  /** REDIS_CLUSTER: talk to a Redis Cluster through the node the URL names. */
  cluster?: boolean;
  /** REDIS_SENTINELS: the URL's host is the name these Sentinels know the primary by. */
  sentinels?: { host: string; port: number }[];
  /** REDIS_SENTINEL_PASSWORD: the Sentinels' own password, null for none. */
  sentinelPassword?: string | null;
  /** REDIS_TLS_*_FILE: a CA and a client certificate for rediss://. */
  tls?: RedisTlsFiles;
}

type Reply = [number, number, number, number, number];

type ClaimOutcome = { kind: 'granted'; remaining: number; resetMs: number } | { kind: 'refused'; retryAfterMs: number; resetMs: number } | { kind: 'fallback' };

type ScriptedRedis = RedisClient & {
  modelgateRate(key: string, windowMs: number, limit: number, want: number): Promise<Reply>;
};

/** Why a limiter pointed at one node of a cluster refuses to count: most keys belong to other nodes. */
const CLUSTER_NODE =
  'REDIS_URL names a node of a Redis Cluster (cluster_enabled:1), which answers keys of the slots other nodes own with MOVED, so most limits would not be counted: set REDIS_CLUSTER=on';

/** How often a limiter connected to a replica reconnects to see whether the name now leads to a primary. */
const REPLICA_RECHECK_MS = 2000;

/**
 * How often a limiter whose checks Redis refuses while connected (full, an ACL without the
 * script, too slow) tries a count of its own, so that /health clears once Redis takes them again
 * even when no request comes meanwhile.
 */
const REFUSAL_RECHECK_MS = 2000;

/** Connected this long with no error and not ready: Redis itself is not ready (loading its data set), not the connection. */
const CONNECTED_WAITING_MS = 2000;

/** The key that try counts on: under rate_limit:* as every limit (an ACL's key pattern), and no key's id. */
const PROBE_KEY = redisKey('modelgate/probe');

/** Why a limiter connected to a read-only replica counts nothing there, and what to change. */
const onReplica = (primary: string) =>
  `REDIS_URL leads to a read-only replica (of ${primary}), which refuses the counts (READONLY): point REDIS_URL at the primary, or at the endpoint that follows it through a failover (a managed service's primary endpoint)`;

/**
 * Limits shared by every replica through Redis. Fails open by default: when Redis is down or
 * slow, requests are allowed (counted by onFallback, logged once per outage) and limits come
 * back by themselves when Redis does. With onFailure 'closed' they get 503 instead.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly backend = 'redis' as const;
  private readonly redis: ScriptedRedis;
  /** The current outage has been logged (said once per outage). */
  private outageSaid = false;
  /** ioredis's last connection error, until it connects again: the reason a check cannot be answered. */
  private lastError: unknown;
  /** Without REDIS_CLUSTER, whether the connection reached a node of a cluster (then nothing is counted there). */
  private clusterNode = false;
  /** Without REDIS_CLUSTER, the primary of the read-only replica the connection reached (then nothing is counted there). */
  private replicaOf: string | undefined;
  private recheck: NodeJS.Timeout | undefined;
  /** With REDIS_SENTINELS, why the first Sentinel could not be reached when none answered (ioredis keeps no reason). */
  private sentinelFailure: Error | undefined;
  private probing: Promise<void> | undefined;
  /** Since when the connection has been unable to count (lost, or reaching a node that cannot count); undefined while it can. */
  private downSince: string | undefined = new Date().toISOString();
  /** While Redis, connected, refuses or times out the checks: since when and why (with what to do); cleared by the next it answers. */
  private refusing: { since: string; error: string } | undefined;
  private refusalRecheck: NodeJS.Timeout | undefined;
  /** When the socket last connected, and when ioredis last reported an error (ms). */
  private connectedAt: number | undefined;
  private lastErrorAt: number | undefined;
  private checked: Promise<void> = Promise.resolve();
  /** Units claimed from Redis and not yet spent, per key. */
  private readonly grants = new Map<string, { left: number; roomAfter: number; until: number; windowMs: number; limit: number }>();
  private readonly claims = new Map<string, Promise<ClaimOutcome>>();

  constructor(private readonly o: RedisLimiterOptions) {
    // One set of TLS options for the client and the Sentinel probe; their files are read again at each connection.
    const tls = o.url.startsWith('rediss:') ? readRedisTls(o.tls) : undefined;
    this.redis = connectRedis(o.url, { cluster: o.cluster ?? false, commandTimeoutMs: o.timeoutMs ?? 250, sentinels: o.sentinels, sentinelPassword: o.sentinelPassword, tls }) as ScriptedRedis;
    this.redis.defineCommand('modelgateRate', { numberOfKeys: 1, lua: SCRIPT });
    // Errors surface through the failure policy; without a listener ioredis would print each one.
    // ioredis's own complaint about writing to the closed stream would hide the connection's error.
    this.redis.on('error', (e) => {
      this.lastErrorAt = Date.now();
      if (!/Stream isn't writeable/.test(e.message)) this.lastError = reasonAfter(this.lastError, e);
      if (o.sentinels && /All sentinels are unreachable/.test(e.message) && !this.probing) {
        this.probing = probeSentinel(o.sentinels[0]!, tls).then((failure) => {
          this.sentinelFailure = failure;
          this.probing = undefined;
        });
      }
    });
    this.redis.on('close', () => (this.downSince ??= new Date().toISOString()));
    // A Redis loading its data set after a restart keeps the connection at 'connect' until it has:
    // then the error that took the last socket down is no longer why checks wait (unavailableReason).
    this.redis.on('connect', () => (this.connectedAt = Date.now()));
    this.redis.on('ready', () => {
      this.lastError = undefined;
      this.sentinelFailure = undefined;
      // Asked on every connection: a single-node URL that reaches a cluster node or a replica is refused with the fix.
      if (!o.cluster) this.checked = this.checkNode();
      else {
        this.downSince = undefined;
        this.checked = connectPrimaries(this.redis as Cluster);
      }
    });
  }

  private async checkNode(): Promise<void> {
    const [cluster, primary] = await Promise.all([isClusterNode(this.redis).catch(() => false), replicaOf(this.redis).catch(() => undefined)]);
    this.clusterNode = cluster;
    const was = this.replicaOf;
    this.replicaOf = primary;
    clearTimeout(this.recheck);
    this.recheck = undefined;
    if (cluster || primary) this.downSince ??= new Date().toISOString();
    else this.downSince = undefined;
    if (!primary) return; // the next check that Redis answers says limits are enforced again
    if (!was) {
      this.o.log.error({ policy: this.o.onFailure }, `${onReplica(primary)}; rate limits fail ${this.o.onFailure} until then (checked again every ${REPLICA_RECHECK_MS / 1000} s)`);
      this.outageSaid = true; // said: the checks refused meanwhile add nothing
    }
    // A name that moves to the new primary after a failover is resolved again on reconnect.
    this.recheck = setTimeout(() => this.redis.disconnect(true), REPLICA_RECHECK_MS).unref();
  }

  private async run(key: string, rate: Rate, want: number): Promise<Reply> {
    // Disconnected: answer by the failure policy at once rather than wait out a timeout per request.
    if (this.redis.status !== 'ready' || this.clusterNode || this.replicaOf) throw new Error(this.unavailableReason());
    const reply = await this.redis.modelgateRate(redisKey(key), rate.windowMs, rate.limit, want);
    if (want > 0 || this.refusing === undefined) this.answered();
    return reply;
  }

  outage(): { since: string; error: string } | undefined {
    const error = this.unavailableReason();
    return error === undefined ? undefined : { since: this.downSince ?? this.refusing?.since ?? new Date().toISOString(), error };
  }

  unavailableReason(): string | undefined {
    if (this.clusterNode) return CLUSTER_NODE;
    if (this.replicaOf) return onReplica(this.replicaOf);
    if (this.redis.status !== 'ready') {
      // Connected for a while with no error since (a refusal of the handshake or of the password comes within a round trip or two): waiting on Redis itself.
      const waiting = this.redis.status === 'connect' && this.connectedAt !== undefined && (this.lastErrorAt ?? 0) < this.connectedAt && Date.now() - this.connectedAt >= CONNECTED_WAITING_MS;
      return redisAdvice(this.o.url, this.redis.status, waiting ? undefined : this.lastError, this.o.sentinels, this.sentinelFailure);
    }
    return this.refusing?.error;
  }

  /** Redis answered a check: whatever it refused before, it takes them now. */
  private answered(): void {
    this.refusing = undefined;
    clearInterval(this.refusalRecheck);
    this.refusalRecheck = undefined;
    if (this.outageSaid) {
      this.outageSaid = false;
      this.o.log.warn('Redis answers rate-limit checks again; limits are enforced');
    }
  }

  /**
   * A check failed. Connected, Redis refused it or did not answer in time: kept as the outage's
   * reason (the connection's own state says why otherwise), and tried again on a timer.
   */
  private refused(e: unknown): string {
    if (this.redis.status !== 'ready' || this.clusterNode || this.replicaOf) return this.unavailableReason() ?? errorMessage(e);
    const error = redisRefusalAdvice(e);
    this.refusing = { since: this.refusing?.since ?? new Date().toISOString(), error };
    this.refusalRecheck ??= setInterval(() => {
      // A count of one on a key no request uses, with a limit it never reaches: Redis takes it exactly when it would take a request's.
      this.redis.modelgateRate(PROBE_KEY, 1000, 1e9, 1).then(
        () => this.answered(),
        (err: unknown) => {
          // Disconnected meanwhile: the connection's state says why, and the next 'ready' is tried again.
          if (this.refusing && this.redis.status === 'ready') this.refusing.error = redisRefusalAdvice(err);
        },
      );
    }, REFUSAL_RECHECK_MS).unref();
    return error;
  }

  /** Resolves once connected, or after timeoutMs (then checks follow the failure policy until Redis answers). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    const connected = this.redis.status === 'ready' || (await this.connected(timeoutMs));
    if (!connected) return false;
    await this.checked;
    return !this.clusterNode && !this.replicaOf;
  }

  private connected(timeoutMs: number): Promise<boolean> {
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

  /**
   * Requests are counted in Redis a chunk at a time: a process claims up to 0.5 % of a key's
   * limit in one call and spends it locally until the chunk or the window runs out. A key at
   * 100/s still costs one Redis call per request; one at 100,000/s, one per 500. Units a
   * process claimed but did not use lapse with the window, so across N processes a key may be
   * held up to N × 0.5 % under its limit, never over it.
   */
  async hit(key: string, rate: Rate): Promise<RateDecision> {
    const chunk = Math.max(1, Math.floor(rate.limit / 200));
    for (let attempt = 0; ; attempt++) {
      const g = this.grants.get(key);
      const now = Date.now();
      if (g && g.left > 0 && now < g.until && g.windowMs === rate.windowMs && g.limit === rate.limit) {
        g.left--;
        return { allowed: true, limit: rate.limit, remaining: g.left + g.roomAfter, resetMs: g.until - now, retryAfterMs: 0 };
      }
      // Small limits: every request is its own claim, in parallel (auto-pipelined).
      // Larger ones: one claim in flight per key, and the requests that arrive meanwhile share it.
      let claim = chunk > 1 ? this.claims.get(key) : undefined;
      if (!claim) {
        claim = this.claim(key, rate, chunk);
        if (chunk > 1) {
          this.claims.set(key, claim);
          void claim.finally(() => this.claims.delete(key)).catch(() => undefined);
        }
      }
      const outcome = await claim;
      if (outcome.kind === 'refused') return { allowed: false, limit: rate.limit, remaining: 0, resetMs: outcome.resetMs, retryAfterMs: outcome.retryAfterMs };
      if (outcome.kind === 'fallback') return { allowed: true, limit: rate.limit, remaining: rate.limit, resetMs: rate.windowMs, retryAfterMs: 0 };
      if (chunk === 1) return { allowed: true, limit: rate.limit, remaining: outcome.remaining, resetMs: outcome.resetMs, retryAfterMs: 0 };
      // Granted, but others sharing the claim may have spent it: take a unit or claim again.
      // Every round spends a chunk of the window or ends in a refusal, so a burst is served in
      // at most limit/chunk rounds (about 200). A fixed 100 refused the rest of a burst of more
      // than 100 chunks while the key still had room (1,500 at once under 2000/10s: 1,010 passed).
      // Twice a window's rounds only stops a loop whose grants never match.
      if (attempt > 2 * Math.ceil(rate.limit / chunk)) return { allowed: false, limit: rate.limit, remaining: 0, resetMs: outcome.resetMs, retryAfterMs: 1000 };
    }
  }

  private async claim(key: string, rate: Rate, chunk: number): Promise<ClaimOutcome> {
    try {
      const started = Date.now();
      const [granted, remaining, retry, reset] = await this.run(key, rate, chunk);
      if (granted === 0) {
        this.grants.delete(key);
        return { kind: 'refused', retryAfterMs: retry, resetMs: reset };
      }
      if (chunk > 1) this.grants.set(key, { left: granted, roomAfter: remaining, until: started + reset, windowMs: rate.windowMs, limit: rate.limit });
      return { kind: 'granted', remaining, resetMs: reset };
    } catch (e) {
      const reason = this.refused(e);
      if (!this.outageSaid) {
        this.outageSaid = true;
        this.o.log.error({ err: errorMessage(e), policy: this.o.onFailure }, `Redis cannot answer rate-limit checks (${reason}); failing ${this.o.onFailure} until it does`);
      }
      this.grants.delete(key);
      this.o.onFallback?.(this.o.onFailure);
      if (this.o.onFailure === 'closed')
        throw new AppError('UNAVAILABLE', 'rate limits cannot be checked right now (Redis does not answer, or cannot count them: the server log says why); retry shortly');
      return { kind: 'fallback' };
    }
  }

  async peek(key: string, rate: Rate): Promise<RateState> {
    const [, remaining, , reset, used] = await this.run(key, rate, 0).catch((e) => {
      throw new AppError('UNAVAILABLE', `cannot read rate-limit state from Redis: ${this.redis.status === 'ready' ? redisRefusalAdvice(e) : errorMessage(e)}`);
    });
    return { key, limit: rate.limit, windowMs: rate.windowMs, used: used / 100, remaining, resetMs: reset };
  }

  async reset(key: string): Promise<void> {
    this.grants.delete(key);
    if (this.clusterNode || this.replicaOf) throw new AppError('UNAVAILABLE', `cannot reset the rate limit in Redis: ${this.unavailableReason()}`);
    await this.redis.del(redisKey(key)).catch((e) => {
      throw new AppError('UNAVAILABLE', `cannot reset the rate limit in Redis: ${this.redis.status === 'ready' ? redisRefusalAdvice(e) : errorMessage(e)}`);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.recheck);
    clearInterval(this.refusalRecheck);
    this.redis.disconnect();
  }
}

/** The Redis settings of the configuration, as createRateLimiter takes them (redisUrl unset: counts in memory). */
export type RedisSettings = Pick<RedisLimiterOptions, 'cluster' | 'sentinels' | 'sentinelPassword' | 'tls'> & { redisUrl?: string };

/** The configuration's Redis settings in one list, so no caller leaves one out. */
export function redisSettings(c: {
  REDIS_URL?: string;
  REDIS_CLUSTER: boolean;
  redisSentinels?: { host: string; port: number }[];
  redisSentinelPassword?: string | null;
  redisTls?: RedisTlsFiles;
}): RedisSettings {
  return { redisUrl: c.REDIS_URL, cluster: c.REDIS_CLUSTER, sentinels: c.redisSentinels, sentinelPassword: c.redisSentinelPassword, tls: c.redisTls };
}

export function createRateLimiter(o: RedisSettings & Pick<RedisLimiterOptions, 'onFailure' | 'log' | 'onFallback' | 'timeoutMs'>): RateLimiter {
  const { redisUrl, ...rest } = o;
  return redisUrl ? new RedisRateLimiter({ ...rest, url: redisUrl }) : new MemoryRateLimiter();
}
