import type { Clock, Timers } from '../lib/clock.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Logger } from '../lib/logger.js';
import type { AuditStore } from './store.js';
import { Yielder } from '../lib/yielder.js';

/** Something else kept as long as the audit records it was made from. */
export interface RetainedAlongside {
  what: string;
  deleteOlderThan(cutoff: string, batch: number): Promise<number>;
}

/**
 * Deletes audit records older than the retention period (with their outcomes), then what is
 * kept alongside them (monitoring reports), in batches so no statement holds locks for long.
 * Idempotent, so every replica may run it; the interval has jitter.
 */
export class RetentionJob {
  private periodic: Periodic | undefined;

  constructor(
    private readonly o: {
      store: AuditStore;
      alongside?: RetainedAlongside[];
      clock: Clock;
      log: Logger;
      retentionDays: number;
      intervalMs: number;
      batch?: number;
      timers?: Timers;
      /** A failed run's database error in words for the log (what it means, what to do). */
      describeError?: (e: unknown) => string;
    },
  ) {}

  /** Audit records deleted (what was deleted alongside them is logged). */
  async runOnce(): Promise<number> {
    const cutoff = new Date(this.o.clock.now().getTime() - this.o.retentionDays * 86_400_000).toISOString();
    const total = await this.drain((batch) => this.o.store.deleteOlderThan(cutoff, batch));
    if (total) this.o.log.info({ deleted: total, before: cutoff }, 'deleted audit records past retention');
    for (const a of this.o.alongside ?? []) {
      const n = await this.drain((batch) => a.deleteOlderThan(cutoff, batch));
      if (n) this.o.log.info({ deleted: n, before: cutoff }, `deleted ${a.what} past retention`);
    }
    return total;
  }

  private async drain(deleteBatch: (batch: number) => Promise<number>): Promise<number> {
    const batch = this.o.batch ?? 5000;
    let total = 0;
    const yielder = new Yielder();
    for (;;) {
      const n = await deleteBatch(batch);
      total += n;
      if (n < batch) return total;
      // SQLite deletes synchronously: a backlog of old records must not hold requests until it is all gone.
      await yielder.pause();
    }
  }

  start(): void {
    if (this.o.retentionDays <= 0) return;
    this.periodic = startPeriodic({
      run: () => this.runOnce(),
      intervalMs: this.o.intervalMs,
      firstMs: Math.min(this.o.intervalMs, 60_000),
      log: this.o.log,
      what: 'audit retention run',
      timers: this.o.timers,
      describeError: this.o.describeError,
    });
  }

  /** No further runs; resolves when a run in progress (a delete batch) has finished. */
  async stop(): Promise<void> {
    await this.periodic?.stop();
  }
}
