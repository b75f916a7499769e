import type { Clock, Timers } from '../lib/clock.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Logger } from '../lib/logger.js';
import type { AuditStore } from './store.js';
import { Yielder } from '../lib/yielder.js';

/**
 * Deletes audit records older than the retention period, in batches so no statement holds
 * locks for long. Idempotent, so every replica may run it; the interval has jitter.
 */
export class RetentionJob {
  private periodic: Periodic | undefined;

  constructor(private readonly o: { store: AuditStore; clock: Clock; log: Logger; retentionDays: number; intervalMs: number; batch?: number; timers?: Timers }) {}

  async runOnce(): Promise<number> {
    const cutoff = new Date(this.o.clock.now().getTime() - this.o.retentionDays * 86_400_000).toISOString();
    let total = 0;
    const yielder = new Yielder();
    for (;;) {
      const n = await this.o.store.deleteOlderThan(cutoff, this.o.batch ?? 5000);
      total += n;
      if (n < (this.o.batch ?? 5000)) break;
      // SQLite deletes synchronously: a backlog of old records must not hold requests until it is all gone.
      await yielder.pause();
    }
    if (total) this.o.log.info({ deleted: total, before: cutoff }, 'deleted audit records past retention');
    return total;
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
    });
  }

  /** No further runs; resolves when a run in progress (a delete batch) has finished. */
  async stop(): Promise<void> {
    await this.periodic?.stop();
  }
}
