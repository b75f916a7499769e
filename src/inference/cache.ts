import { LRUCache } from 'lru-cache';
import type { Row } from './encoder.js';
import type { Servable } from './servable.js';
import type { Outcome } from './outcome.js';

export interface PredictionCacheOptions {
  maxItems: number;
  ttlMs: number;
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

  constructor(private readonly o: PredictionCacheOptions) {
    this.lru = o.maxItems > 0 ? new LRUCache<string, Outcome>({ max: o.maxItems, ttl: o.ttlMs > 0 ? o.ttlMs : undefined }) : undefined;
  }

  /** The row's key, when the cache is on: look it up with get, then store under it with set. */
  keyOf(s: Servable, row: Row): string | undefined {
    return this.lru ? cacheKey(s, row) : undefined;
  }

  get(s: Servable, key: string | undefined): Outcome | undefined {
    if (!this.lru || key === undefined) return undefined;
    const v = this.lru.get(key);
    if (v === undefined) this.o.onMiss?.(s.spec.model);
    else this.o.onHit?.(s.spec.model);
    return v;
  }

  set(key: string | undefined, outcome: Outcome): void {
    if (key !== undefined) this.lru?.set(key, outcome);
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
