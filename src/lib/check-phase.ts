/** The promise this turn's callers share, until its setImmediate fires. */
let waiting: Promise<void> | undefined;

/**
 * A promise that settles in this event-loop turn's check phase (setImmediate), shared by every
 * caller in the turn: one timer however many wait. Replies that would otherwise be written one
 * by one as each request is parsed are written together after the poll phase, as replies from
 * a micro-batched model run already are. On a busy server that halves the wake-ups of the
 * peers' readers (the kernel's cost of each write to a sleeping reader), measured in
 * bench/access.ts (cache hits).
 */
export function checkPhase(): Promise<void> {
  if (!waiting) {
    waiting = new Promise((resolve) =>
      setImmediate(() => {
        waiting = undefined;
        resolve();
      }),
    );
  }
  return waiting;
}
