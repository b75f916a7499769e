/** Injectable time so jobs and tests never depend on the wall clock directly. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** An armed timer; only ever handed back to the Timers that made it. */
export type TimerHandle = unknown;

/**
 * Injectable timers for background loops and waits, so a test can advance time by hand
 * instead of racing real milliseconds.
 */
export interface Timers {
  /** Call fn once after ms. The system timers are unref'd: a pending one never holds a process open. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
