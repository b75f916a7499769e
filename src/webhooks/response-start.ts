/** How much of a receiver's answer to a failed attempt is kept: enough for its error message. */
export const RESPONSE_KEPT_BYTES = 1024;

/**
 * The start of a response body as text, at most `max` bytes of it (a character cut at the end is
 * left out, and `…` marks the cut); null when it is empty. A body that stops coming (the attempt's
 * timeout aborts it) keeps what had arrived.
 */
export async function responseStart(body: ReadableStream<Uint8Array> | null, max = RESPONSE_KEPT_BYTES): Promise<string | null> {
  if (!body) return null;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  let cut = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = max - bytes;
      // stream: true holds back a character whose bytes are not all here yet.
      text += decoder.decode(value.byteLength > room ? value.subarray(0, room) : value, { stream: true });
      bytes += Math.min(room, value.byteLength);
      if (value.byteLength > room) {
        cut = true;
        break;
      }
    }
  } catch {
    // Aborted or reset mid-body: what came is still the receiver's answer.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text || cut ? `${text}${cut ? '…' : ''}` : null;
}
