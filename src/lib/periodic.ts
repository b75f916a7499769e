import { systemTimers, type TimerHandle, type Timers } from './clock.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { FailureStreak } from './failure-streak.js';

export interface PeriodicOptions {
  /** One run; a failure is reported (onError, else a warning) and the next run comes at the usual time. */
  run: () => Promise<unknown>;
  intervalMs: number;
  /** Delay before the first run (default: the interval). */
  firstMs?: number;
  /** Extra random delay, as a share of the interval, so replicas do not run in lockstep (default 0.1). */
  jitter?: number;
  log: Logger;
  /** Names the job in the failure log line. */
  what: string;
  /**
   * Report a failed run instead of the default warning. Either is said for the first failure
   * and whenever the error changes, not again for each run that fails the same way (an outage
   * of a minute was 60 identical lines a job); the run that works again logs how many failed.
   */
  onError?: (e: unknown) => void;
  /** A failure in words for the default warning (what it means, what to do); default: the error's message. */
  describeError?: (e: unknown) => string;
  timers?: Timers;
}

export interface Periodic {
  /** No further runs; resolves when a run in progress has finished. */
  stop(): Promise<void>;
}

/**
 * A background job run again `intervalMs` (plus jitter) after each run ends: never two runs at
 * a time, one armed timer per job whatever its age, on unref'd timers so it never holds a
 * process open. Every background loop in the server goes through this.
 */
export function startPeriodic(o: PeriodicOptions): Periodic {
  const timers = o.timers ?? systemTimers;
  let stopped = false;
  let timer: TimerHandle | undefined;
  let running: Promise<void> | undefined;
  const failures = new FailureStreak();
  const schedule = (ms: number) => {
    timer = timers.setTimeout(loop, ms);
  };
  const loop = () => {
    timer = undefined;
    if (stopped) return;
    running = Promise.resolve()
      .then(o.run)
      .then(
        () => {
          const failed = failures.succeeded();
          if (failed) o.log.info({ failed_runs: failed }, `${o.what} works again after ${failed} failed run${failed === 1 ? '' : 's'}`);
        },
        (e: unknown) => {
          const error = o.describeError ? o.describeError(e) : errorMessage(e);
          if (!failures.failed(error)) return;
          if (o.onError) o.onError(e);
          else o.log.warn({ err: error }, `${o.what} failed; retrying every interval (said again only if the error changes)`);
        },
      )
      .finally(() => {
        running = undefined;
        if (!stopped) schedule(o.intervalMs + Math.floor(Math.random() * o.intervalMs * (o.jitter ?? 0.1)));
      });
  };
  schedule(o.firstMs ?? o.intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
