import { LRUCache } from 'lru-cache';
import type { Row } from './encoder.js';
import type { Servable } from './servable.js';
import type { Outcome } from './outcome.js';
import { Doorkeeper } from './doorkeeper.js';

/** Rows a doorkeeper remembers at least, however small the cache (8 bits a row rounded up to a power of two, two windows: 32 KB). */
const DOORKEEPER_MIN_WINDOW = 10_000;

/** keyOf's answer for a row seen for the first time (admit 'second'): not looked up, not stored. */
const UNSEEN: unique symbol = Symbol('unseen row');
export type CacheKey = string | typeof UNSEEN;

/** When a scored row enters the cache: the second time it is scored (default), or the first. */
export type CacheAdmission = 'second' | 'first';

export interface PredictionCacheOptions {
  maxItems: number;
  ttlMs: number;
  /** Default 'second': a row seen once is only remembered (doorkeeper.ts); 'first' caches every scored row. */
  admit?: CacheAdmission;
  /** Milliseconds for the TTL (default performance.now; tests pass their clock). */
  now?: () => number;
  onHit?: (model: string) => void;
  onMiss?: (model: string) => void;
}

/**
 * Scores by (model, version, canonical feature values). The row is already canonical: values
 * in contract order, missing numbers as NaN, so two payloads that mean the same thing share
 * an entry whatever their key order. The version is part of the key, so a result is never
 * served for another version; versions are immutable, so nothing needs invalidating.
 */
export class PredictionCache {
  private readonly lru: LRUCache<string, Outcome> | undefined;
  private readonly door: Doorkeeper | undefined;

  constructor(private readonly o: PredictionCacheOptions) {
    // ttlResolution 0: the clock is read at each check. lru-cache's default (1 ms) keeps the time
    // and schedules a timer to forget it, so a busy server had a timer made and fired about every
    // millisecond, more than reading the clock costs (docs/performance.md, thirteenth session).
    this.lru = o.maxItems > 0 ? new LRUCache<string, Outcome>({ max: o.maxItems, ttl: o.ttlMs > 0 ? o.ttlMs : undefined, ttlResolution: 0, ...(o.now ? { perf: { now: o.now } } : {}) }) : undefined;
    this.door = this.lru && (o.admit ?? 'second') === 'second' ? new Doorkeeper(Math.max(o.maxItems, DOORKEEPER_MIN_WINDOW)) : undefined;
  }

  /**
   * The row's key, when the cache is on: look it up with get, then store under it with set.
   * A row the doorkeeper has not seen yet gets UNSEEN: it cannot be cached, so neither its key
   * nor a lookup is worth making, and set() then stores nothing.
   */
  keyOf(s: Servable, row: Row): CacheKey | undefined {
    if (!this.lru) return undefined;
    if (this.door && !this.door.offer(s.cachePrefix, row)) return UNSEEN;
    return cacheKey(s, row);
  }

  get(s: Servable, key: CacheKey | undefined): Outcome | undefined {
    if (!this.lru || key === undefined) return undefined;
    const v = key === UNSEEN ? undefined : this.lru.get(key);
    if (v === undefined) this.o.onMiss?.(s.spec.model);
    else this.o.onHit?.(s.spec.model);
    return v;
  }

  /** Store a scored row's outcome under the key get() missed with. */
  set(key: CacheKey | undefined, outcome: Outcome): void {
    if (key !== undefined && key !== UNSEEN) this.lru?.set(key, outcome);
  }
}

/** model@version, then each value tagged by type, so 1 and "1" or true and "true" never collide. */
export function cacheKey(s: Servable, row: Row): string {
  let k = s.cachePrefix;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    switch (typeof v) {
      case 'number':
        k += `|n${v}`;
        break;
      case 'string':
        // Length-prefixed, so no string can imitate a separator.
        k += `|s${v.length}:${v}`;
        break;
      case 'bigint':
        k += `|i${v}`;
        break;
      default:
        k += v ? '|t' : '|f';
    }
  }
  return k;
}
