import { describe, expect, it } from 'vitest';
import { RESPONSE_KEPT_BYTES, responseStart } from './response-start.js';

/** A body that arrives in these chunks (strings as UTF-8), then ends, or fails when `fail` is set. */
function body(chunks: (string | Uint8Array)[], fail?: Error): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) {
        const x = chunks[i++];
        c.enqueue(typeof x === 'string' ? new TextEncoder().encode(x) : x);
      } else if (fail) c.error(fail);
      else c.close();
    },
  });
}

describe("the start of a receiver's answer", () => {
  it('keeps a short answer whole, in whatever chunks it came', async () => {
    expect(await responseStart(body(['{"error":', '"bad signature"}\n']))).toBe('{"error":"bad signature"}\n');
    expect(RESPONSE_KEPT_BYTES).toBe(1024);
  });

  it('is null for no body or an empty one', async () => {
    expect(await responseStart(null)).toBeNull();
    expect(await responseStart(body([]))).toBeNull();
    expect(await responseStart(body(['']))).toBeNull();
  });

  it('keeps the first 1 KiB of a long answer and marks the cut, without reading the rest', async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(300).fill(0x61)); // 300 × "a", forever
      },
    });
    const text = await responseStart(endless);
    expect(text).toBe(`${'a'.repeat(1024)}…`);
    // 1024 bytes need 4 chunks of 300; the fourth holds the cut. Then it stops reading (the stream is cancelled).
    expect(pulled).toBeLessThanOrEqual(5);
  });

  it('an answer of exactly the limit is whole, not cut', async () => {
    expect(await responseStart(body(['x'.repeat(1000), 'y'.repeat(24)]))).toBe('x'.repeat(1000) + 'y'.repeat(24));
  });

  it('leaves out a character whose bytes straddle the limit, rather than keep half of it', async () => {
    // "é" is two bytes (C3 A9): bytes 1023 and 1024 of the body, so only its first byte fits.
    expect(await responseStart(body(['a'.repeat(1023) + 'é' + 'tail']))).toBe(`${'a'.repeat(1023)}…`);
    // A character split across chunks but within the limit is kept.
    const euro = new TextEncoder().encode('€'); // E2 82 AC
    expect(await responseStart(body([euro.subarray(0, 1), euro.subarray(1), ' 5']))).toBe('€ 5');
    // A smaller limit, counted in bytes: "ab€" is five bytes; at 4 the euro sign does not fit.
    expect(await responseStart(body(['ab€c']), 4)).toBe('ab…');
  });

  it('keeps what came before the body failed (a reset, or the timeout aborting it)', async () => {
    expect(await responseStart(body(['partial answ'], new Error('socket hang up')))).toBe('partial answ');
    expect(await responseStart(body([], new Error('aborted')))).toBeNull();
  });
});
