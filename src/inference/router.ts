export const BUCKETS = 10_000;

/** FNV-1a then murmur3's finaliser: fast, and well mixed even for sequential keys. */
export function hashBucket(key: string, salt: string): number {
  let h = 0x811c9dc5;
  const s = `${salt}\u0000${key}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKETS;
}

const GOLDEN = 0.6180339887498949;

/**
 * Sticky canary routing. A request's key (routing_key, else event_id) hashes to one of 10,000
 * buckets; buckets below percent × 100 go to the canary. The same key lands in the same bucket
 * for the whole rollout, and raising the percent only adds buckets, so an entity on the canary
 * stays there. Requests without a key take a low-discrepancy sequence instead of Math.random,
 * so the realised split tracks the setting closely even over a few hundred requests.
 */
export class CanaryRouter {
  private spread = Math.random();

  /** True when this request goes to the canary. */
  toCanary(percent: number, salt: string, key: string | undefined): boolean {
    if (percent <= 0) return false;
    if (percent >= 100) return true;
    let bucket: number;
    if (key !== undefined && key !== '') bucket = hashBucket(key, salt);
    else {
      this.spread = (this.spread + GOLDEN) % 1;
      bucket = Math.floor(this.spread * BUCKETS);
    }
    return bucket < Math.round(percent * 100);
  }
}
