import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

/**
 * Lets a long loop on the request thread give the event loop a turn every `budgetMs`: callers
 * call `due()` per item (cheap: the clock is read every 64 calls) and, when it says so, await
 * `pause()`. Without it, work that only awaits promises — better-sqlite3's statement iterator
 * behind an async generator, JSON parsing, binning — never lets I/O run: a monitoring run over
 * 200,000 predictions on SQLite held every request (and /healthz) for its whole second.
 */
export class Yielder {
  private calls = 0;
  private since: number;

  /** `now`: milliseconds, monotonic (tests pass their own). */
  constructor(
    private readonly budgetMs = 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.since = now();
  }

  /** True when the loop has run for its budget since the last pause. */
  due(): boolean {
    if ((++this.calls & 63) !== 0) return false;
    return this.spent();
  }

  /** The same, reading the clock on every call: for loops whose steps each take a while. */
  spent(): boolean {
    return this.now() - this.since >= this.budgetMs;
  }

  /** One event-loop turn: timers, I/O and requests waiting run, then the loop goes on. */
  async pause(): Promise<void> {
    await nextTurn();
    this.since = this.now();
  }
}

/** Run a stepwise computation (a generator that yields between steps) to its end at once. */
export function drain<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Run a stepwise computation, giving the event loop a turn whenever its steps have taken the yielder's budget. */
export async function drainYielding<T>(steps: Generator<unknown, T>, yielder = new Yielder()): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (yielder.spent()) await yielder.pause();
  }
}
