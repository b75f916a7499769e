import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

export interface PeriodicOptions {
  /** One run; a failure is logged and the next run comes at the usual time. */
  run: () => Promise<unknown>;
  intervalMs: number;
  /** Delay before the first run (default: the interval). */
  firstMs?: number;
  /** Extra random delay, as a share of the interval, so replicas do not run in lockstep (default 0.1). */
  jitter?: number;
  log: Logger;
  /** Names the job in the failure log line. */
  what: string;
}

export interface Periodic {
  /** No further runs; resolves when a run in progress has finished. */
  stop(): Promise<void>;
}

/**
 * A background job run again `intervalMs` (plus jitter) after each run ends, never two at a
 * time, on unref'd timers so it never holds a process open.
 */
export function startPeriodic(o: PeriodicOptions): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = (ms: number) => {
    timer = setTimeout(loop, ms);
    timer.unref();
  };
  const loop = () => {
    if (stopped) return;
    running = o
      .run()
      .then(() => undefined)
      .catch((e) => o.log.warn({ err: errorMessage(e) }, `${o.what} failed; retrying next interval`))
      .finally(() => {
        running = undefined;
        if (!stopped) schedule(o.intervalMs + Math.floor(Math.random() * o.intervalMs * (o.jitter ?? 0.1)));
      });
  };
  schedule(o.firstMs ?? o.intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
