import { createHash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock, type Timers } from '../lib/clock.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import { AppError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Authenticator, Principal, Scope } from './credentials.js';
import type { AccessService } from './service.js';
import type { ApiKeyRecord } from './store.js';
import { classifyToken, hashToken, TOKEN_PREFIX, tokenPrefix } from './token.js';

export interface ApiKeyAuthenticatorOptions {
  access: AccessService;
  clock: Clock;
  log: Logger;
  /** How often to check whether any key changed anywhere in the cluster (ms). */
  pollMs: number;
  /** How long a looked-up key is trusted without a change notice (ms). */
  cacheTtlMs?: number;
  /** How often last_used_at is written (ms). */
  touchMs?: number;
  /** Timers for the change check and last-used loops (tests advance them by hand). */
  timers?: Timers;
}

/** Tokens whose digest is remembered at most (the key cache's own bound). */
const HASH_MEMO_MAX = 10_000;

/**
 * A looked-up key. Which of its tokens the hash is (current, or the previous one of a rotation)
 * and its expiry times are settled once, at lookup, not on every request.
 */
type Entry = { record: ApiKeyRecord; principal: Principal; current: boolean; previous: boolean; expiresMs: number; graceEndsMs: number } | { record: null };

/**
 * API keys as bearer tokens. The request path never waits on the database for a known key:
 * keys are cached by token hash and the cache is dropped whenever the access revision moves
 * (any create, revoke or rotate on any replica), so a revocation takes effect cluster-wide
 * within one poll. A mistyped token fails its checksum and is refused without a lookup; a
 * token already in the cache passed that check when it was looked up, so a known key costs
 * one SHA-256 a request.
 * last_used_at is collected in memory and written in the background.
 */
export class ApiKeyAuthenticator implements Authenticator {
  private readonly cache: LRUCache<string, Entry>;
  /** Key id → when it was last used (ms), written out by flushUsage. */
  private readonly used = new Map<string, number>();
  /** Token → its SHA-256, for cached keys (remember). */
  private readonly hashes = new Map<string, string>();
  private revision = -1;
  private loops: Periodic[] = [];
  /** ms now: Date.now with the system clock, which saves a Date a request. */
  private readonly now: () => number;

  constructor(private readonly o: ApiKeyAuthenticatorOptions) {
    this.now = o.clock === systemClock ? Date.now : () => o.clock.now().getTime();
    // ttlResolution 0: no timer a millisecond to forget a kept time (as the prediction cache).
    this.cache = new LRUCache<string, Entry>({ max: 10_000, ttl: o.cacheTtlMs ?? 60_000, ttlResolution: 0, noDeleteOnStaleGet: true });
  }

  /**
   * Synchronous for a key already in the cache (no promise on the request path); a promise
   * when the key must be looked up.
   */
  authenticate(token: string): Principal | undefined | Promise<Principal | undefined> {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const remembered = this.hashes.get(token);
    const hash = remembered ?? hashToken(token);
    const entry = this.cache.get(hash);
    if (entry) {
      if (remembered === undefined) this.remember(token, hash);
      return this.admit(entry, token);
    }
    return this.lookUp(token, hash).then((found) => (found ? this.admit(found, token) : undefined));
  }

  /**
   * Remember a cached key's token → SHA-256: the digest costs 1.5–3 µs a request (most of it
   * OpenSSL fetching the algorithm), a Map lookup a few dozen nanoseconds. Only tokens already
   * in the key cache are remembered, so typos and probes never enter. The memo holds raw tokens
   * in this process's memory, as the requests carrying them already are; the database still
   * never sees one. It is bounded and emptied with the key cache.
   */
  private remember(token: string, hash: string): void {
    if (this.hashes.size >= HASH_MEMO_MAX) this.hashes.clear();
    this.hashes.set(token, hash);
  }

  private admit(entry: Entry, token: string): Principal {
    if (!entry.record) {
      // Well-formed (the checksum holds), so not a typo: a key this server's database never had.
      throw new AppError(
        'UNAUTHORIZED',
        `this API key (${tokenPrefix(token)}…) is well-formed but unknown to this server: it was made by another modelgate (another database or data directory), or its key was deleted; check which server you are calling, or ask its admin for a key (modelgate keys create)`,
      );
    }
    const r = entry.record;
    const now = this.now();
    if (r.revoked_at) throw new AppError('UNAUTHORIZED', `API key ${r.id} (${r.name}) was revoked at ${r.revoked_at}; ask an admin for a new key`);
    if (entry.expiresMs <= now) throw new AppError('UNAUTHORIZED', `API key ${r.id} (${r.name}) expired at ${r.expires_at}; ask an admin for a new key`);
    // The previous token of a rotated key: accepted only during the grace period.
    if (!entry.current && !(entry.graceEndsMs > now)) {
      const grace = entry.previous && r.previous_expires_at ? ` and its grace period ended at ${r.previous_expires_at}` : '';
      throw new AppError(
        'UNAUTHORIZED',
        `this token of API key ${r.id} (${r.name}) was replaced by a rotation (the latest at ${r.rotated_at})${grace}; use the key's new token (an admin gets one with modelgate keys rotate ${r.id})`,
      );
    }
    this.used.set(r.id, now);
    return entry.principal;
  }

  /** A token not in the cache: its checksum, then the database; undefined for a token that is not an API key. */
  private async lookUp(token: string, hash: string): Promise<Entry | undefined> {
    const kind = classifyToken(token);
    if (kind === 'foreign') return undefined;
    if (kind === 'mistyped') throw new AppError('UNAUTHORIZED', 'invalid API key: its checksum does not match, so it was mistyped or cut short; copy it again');
    try {
      const record = await this.o.access.lookup(hash);
      const entry = record ? entryOf(record, hash) : { record: null };
      this.cache.set(hash, entry);
      return entry;
    } catch (e) {
      // Database unreachable: a key seen recently still works; an unknown one cannot be checked.
      const stale = this.cache.get(hash, { allowStale: true });
      if (stale) return stale;
      this.o.log.warn({ err: errorMessage(e) }, 'cannot look up an API key; the database is unreachable');
      throw new AppError('UNAVAILABLE', 'cannot check this API key right now (the key store is unreachable); retry shortly');
    }
  }

  /** Drop cached keys if anything changed; called on a timer, and by tests. */
  async sync(): Promise<void> {
    const rev = await this.o.access.revision();
    if (rev !== this.revision) {
      this.cache.clear();
      this.hashes.clear();
      this.revision = rev;
    }
  }

  async flushUsage(): Promise<void> {
    if (!this.used.size) return;
    const batch = new Map(this.used);
    this.used.clear();
    try {
      await this.o.access.touch(new Map([...batch].map(([id, at]) => [id, new Date(at).toISOString()])));
    } catch (e) {
      for (const [id, at] of batch) if (!this.used.has(id)) this.used.set(id, at);
      throw e;
    }
  }

  start(): void {
    const every = (intervalMs: number, run: () => Promise<void>, what: string) => startPeriodic({ run, intervalMs, what, log: this.o.log, timers: this.o.timers });
    this.loops = [every(this.o.pollMs, () => this.sync(), 'API key change check'), every(this.o.touchMs ?? 10_000, () => this.flushUsage(), 'API key last-used update')];
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.stop()));
    await this.flushUsage().catch((e) => this.o.log.warn({ err: errorMessage(e) }, 'final API key last-used update failed'));
  }
}

/** No expiry reads as +Infinity, so one comparison covers both. */
const expiry = (at: string | null | undefined) => (at ? Date.parse(at) : Infinity);

function entryOf(record: ApiKeyRecord, hash: string): Entry {
  // The lookup found the record by this hash, so it is one of its two tokens; which one is settled here, once.
  const current = sameHash(hash, record.token_sha256);
  const previous = !current && !!record.previous_sha256 && sameHash(hash, record.previous_sha256);
  const graceEndsMs = previous && record.previous_expires_at ? Date.parse(record.previous_expires_at) : -Infinity;
  return { record, principal: principalOf(record), current, previous, expiresMs: expiry(record.expires_at), graceEndsMs };
}

function principalOf(r: ApiKeyRecord): Principal {
  return { id: r.id, kind: 'api-key', scopes: scopeSet(r.scopes), name: r.name, rateLimit: r.rate_limit ?? undefined };
}

/** admin implies every other scope. */
export function scopeSet(scopes: Scope[]): ReadonlySet<Scope> {
  return new Set<Scope>(scopes.includes('admin') ? ['read', 'infer', 'feedback', 'admin'] : scopes);
}

const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * MODELGATE_SERVICE_TOKENS: infer-only bearer tokens from the environment. Listing old and new
 * during an overlap rotates one without downtime. Every configured token is compared (by
 * SHA-256, in constant time), so timing does not reveal which one, or how much of it, matched.
 */
export function serviceTokenAuthenticator(tokens: string[]): Authenticator {
  const digests = tokens.map((t) => createHash('sha256').update(t).digest());
  const principals = digests.map((d): Principal => ({ id: `service-token:${d.toString('hex').slice(0, 8)}`, kind: 'service-token', scopes: new Set<Scope>(['infer']) }));
  return {
    authenticate(given) {
      const g = createHash('sha256').update(given).digest();
      let found: Principal | undefined;
      for (let i = 0; i < digests.length; i++) if (timingSafeEqual(g, digests[i])) found = principals[i];
      return found;
    },
  };
}
