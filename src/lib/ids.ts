import { randomFillSync } from 'node:crypto';

/**
 * Prediction ids: UUIDv7 (RFC 9562), a millisecond timestamp then random bits. Ids made close
 * in time sort close together, so the audit table's primary key grows at its right edge
 * instead of touching a random page of the index per row (which, with a random v4 id, costs a
 * full-page image in the write-ahead log for most rows once the index outgrows the cache).
 *
 * Within a millisecond, ids of this process are ordered by a 26-bit counter (RFC 9562 §6.2,
 * method 1: rand_a and the top of rand_b) that starts at a random value below 2^25 each
 * millisecond; the last 48 bits are random. A clock that steps back keeps the last timestamp
 * and counts on; a counter that runs out moves the timestamp on by one: ids never go
 * backwards. The text is assembled from a
 * cached hex timestamp and a pooled hex string of random bytes: the uuid package's v7 took
 * 1.1–1.4 µs an id on the request path (profiled), this a fraction of that.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let hex = '';
let at = 0;

/** `n` random hex digits. */
function randomHex(n: number): string {
  if (at + n > hex.length) {
    randomFillSync(pool);
    hex = pool.toString('hex');
    at = 0;
  }
  const s = hex.slice(at, at + n);
  at += n;
  return s;
}

const SEQ_MAX = 0x3ffffff;
/** The variant nibble: binary 10 then the counter's two bits. */
const VARIANT = ['8', '9', 'a', 'b'];
let lastMs = -1;
let seq = 0;
let msHex = '';

const pad = (v: number, width: number) => v.toString(16).padStart(width, '0');

/** A new millisecond: its hex, and the counter at a random start below 2^25. */
function startMs(ms: number): void {
  lastMs = ms;
  seq = parseInt(randomHex(8), 16) & 0x1ffffff;
  msHex = pad(ms, 12);
}

/**
 * What a shadow copy's audit record is called: the id of the production prediction it copied,
 * with this after it. The outcome fed back for that prediction is then the shadow's too, found
 * by the primary key (`shadowPredictionId(f.prediction_id)`), with no column to add.
 */
export const SHADOW_ID_SUFFIX = '.shadow';
export const shadowPredictionId = (productionId: string): string => productionId + SHADOW_ID_SUFFIX;

export function predictionId(): string {
  const now = Date.now();
  if (now > lastMs) startMs(now);
  else if (++seq > SEQ_MAX) startMs(lastMs + 1);
  return `${msHex.slice(0, 8)}-${msHex.slice(8)}-7${pad(seq >>> 14, 3)}-${VARIANT[(seq >>> 12) & 3]}${pad(seq & 0xfff, 3)}-${randomHex(12)}`;
}
