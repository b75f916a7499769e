import type { Clock, Timers } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Logger } from '../lib/logger.js';
import type { Report } from './monitor.js';
import type { MonitoringService } from './service.js';

/** Where the job's results go: gauges on every replica, counters for its runs. */
export interface MonitorGauges {
  show(report: Report): void;
  run(result: 'ok' | 'error' | 'follower', seconds: number): void;
}

export interface MonitorJobOptions {
  /** Timers for the tick loop (tests advance them by hand). */
  timers?: Timers;
  monitoring: MonitoringService;
  /** One leader per cluster: only it computes reports. */
  leader: { acquire(now: number): Promise<boolean>; release(): Promise<void> };
  clock: Clock;
  log: Logger;
  intervalMs: number;
  windowMs: number;
  /** How often replicas look for due work and refresh gauges from stored reports. */
  tickMs: number;
  gauges: MonitorGauges;
  /** Told each report this leader makes (the retrain plan's trigger). */
  onReport?: (report: Report) => Promise<unknown>;
  /** A failed tick's database error in words for the log (what it means, what to do). */
  describeError?: (e: unknown) => string;
}

/**
 * The scheduled monitor. Every tick, the leader runs each production model whose latest
 * stored report is older than the interval (so a restart or a new leader neither repeats nor
 * skips a run), and every replica sets its gauges from the latest stored reports, so whichever
 * replica Prometheus scrapes shows the same numbers.
 */
export class MonitorJob {
  private periodic: Periodic | undefined;
  /** Set by stop(): a tick in progress ends after the model it is on (a run over a million predictions takes seconds). */
  private stopping = false;

  constructor(private readonly o: MonitorJobOptions) {}

  async tick(): Promise<void> {
    const { monitoring, clock, log } = this.o;
    const models = await monitoring.monitoredModels();
    const now = clock.now().getTime();
    const leads = models.length > 0 && (await this.o.leader.acquire(now));
    for (const model of models) {
      // Shutting down: the models still to run are run by whichever leader comes next.
      if (this.stopping) break;
      let latest = (await monitoring.latest(model)) as Report | undefined;
      if (leads && (!latest || Date.parse(latest.generated_at) + this.o.intervalMs <= now)) {
        const started = process.hrtime.bigint();
        try {
          latest = (await monitoring.run(model, this.o.windowMs)).report;
          log.info({ model, alerts: latest.alerts.filter((a) => a.firing).map((a) => a.name) }, 'monitoring report stored');
          // Not while shutting down: a retrain started now would only be stopped; the next report starts it.
          const outcome = this.stopping ? undefined : await this.o.onReport?.(latest).catch((e) => log.error({ model, err: errorMessage(e) }, 'retrain trigger failed'));
          if (outcome === 'started') log.info({ model }, 'retraining recommended: the retrain plan runs');
          this.o.gauges.run('ok', Number(process.hrtime.bigint() - started) / 1e9);
        } catch (e) {
          log.error({ model, err: errorMessage(e) }, 'monitoring run failed; retrying next tick');
          this.o.gauges.run('error', Number(process.hrtime.bigint() - started) / 1e9);
        }
      }
      if (latest) this.o.gauges.show(latest);
    }
    if (!leads && models.length) this.o.gauges.run('follower', 0);
  }

  start(): void {
    this.periodic = startPeriodic({
      run: () => this.tick(),
      intervalMs: this.o.tickMs,
      firstMs: Math.min(this.o.tickMs, 5_000),
      log: this.o.log,
      what: 'monitor tick',
      timers: this.o.timers,
      describeError: this.o.describeError,
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.periodic?.stop();
    await this.o.leader.release().catch(() => undefined);
  }
}
