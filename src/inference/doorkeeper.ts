import type { Row } from './encoder.js';

/**
 * Remembers, approximately and in a fixed number of bits, which rows were scored recently: the
 * admission filter in front of the prediction cache (TinyLFU's "doorkeeper"). A row seen for
 * the first time is only remembered here, without building its cache key or touching the LRU;
 * the cache takes it the second time, so a stream of distinct rows — most scoring traffic —
 * neither pays for inserting and evicting entries that are never read nor pushes out the rows
 * that do repeat.
 *
 * Two Bloom filters with two probes and 8 bits per row of the window each: the current window
 * and the one before. Every `window` new rows the older one is cleared and becomes the
 * current one, so a row offered at least once a window stays known, and one not offered for
 * two windows is forgotten. A row the doorkeeper does not know is not looked up in the cache:
 * a cached row forgotten here (offered less than once in two windows) misses once and is
 * known again. A false positive treats a new row as seen, which costs only its lookup and
 * insert.
 */
export class Doorkeeper {
  /** Rows offered in this window, and in the one before it. */
  private current: Uint32Array;
  private previous: Uint32Array;
  private readonly mask: number;
  private added = 0;

  constructor(private readonly window: number) {
    let size = 1024;
    while (size < window * 8) size *= 2;
    this.current = new Uint32Array(size / 32);
    this.previous = new Uint32Array(size / 32);
    this.mask = size - 1;
  }

  /** True when the row (of the version `prefix` names) was offered in this window or the last; either way it is remembered from now on. */
  offer(prefix: string, row: Row): boolean {
    const raw = rowHash(prefix, row);
    // FNV's multiplications carry a difference only upwards: mix the high bits into the low ones the probes use.
    const h = fmix(raw);
    const g = fmix(raw ^ 0x9e3779b9);
    const wa = (h & this.mask) >>> 5;
    const wb = (g & this.mask) >>> 5;
    const ba = 1 << (h & 31);
    const bb = 1 << (g & 31);
    if ((this.current[wa] & ba) !== 0 && (this.current[wb] & bb) !== 0) return true;
    const seen = (this.previous[wa] & ba) !== 0 && (this.previous[wb] & bb) !== 0;
    if (++this.added > this.window) {
      // A new window: the last one becomes the previous, the one before is forgotten.
      const forgotten = this.previous;
      this.previous = this.current;
      this.current = forgotten.fill(0);
      this.added = 1;
    }
    this.current[wa] |= ba;
    this.current[wb] |= bb;
    return seen;
  }
}

/** MurmurHash3's 32-bit finaliser. */
function fmix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const FNV_PRIME = 0x01000193;

/** FNV-1a over the version and the row's typed values, without building a string. */
export function rowHash(prefix: string, row: Row): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < prefix.length; i++) h = Math.imul(h ^ prefix.charCodeAt(i), FNV_PRIME);
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    switch (typeof v) {
      case 'number':
        // One bit pattern for every NaN and for ±0, as the cache key's text has.
        f64[0] = v !== v ? NaN : v === 0 ? 0 : v;
        h = Math.imul(h ^ 1, FNV_PRIME);
        h = Math.imul(h ^ u32[0], FNV_PRIME);
        h = Math.imul(h ^ u32[1], FNV_PRIME);
        break;
      case 'string':
        h = Math.imul(h ^ 2, FNV_PRIME);
        for (let j = 0; j < v.length; j++) h = Math.imul(h ^ v.charCodeAt(j), FNV_PRIME);
        h = Math.imul(h ^ v.length, FNV_PRIME);
        break;
      case 'bigint':
        h = Math.imul(h ^ 3, FNV_PRIME);
        h = Math.imul(h ^ Number(BigInt.asUintN(32, v)), FNV_PRIME);
        h = Math.imul(h ^ Number(BigInt.asUintN(32, v >> 32n)), FNV_PRIME);
        break;
      default:
        h = Math.imul(h ^ (v ? 4 : 5), FNV_PRIME);
    }
  }
  return h >>> 0;
}
