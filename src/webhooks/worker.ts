import type { Clock, Timers } from '../lib/clock.js';
import { destinationRefusal, systemResolver, type Resolver } from './destination.js';
import { errorMessage } from '../lib/errors.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Logger } from '../lib/logger.js';
import { sendEvent } from './send.js';
import type { DueDelivery, WebhookStore } from './store.js';

export interface DeliveryWorkerOptions {
  /** Timers for the delivery loop (tests advance them by hand). */
  timers?: Timers;
  /** Receivers on internal addresses are allowed (WEBHOOK_ALLOW_PRIVATE); else each delivery re-checks where the name leads. */
  allowPrivate: boolean;
  resolve?: Resolver;
  store: WebhookStore;
  leader: { acquire(now: number): Promise<boolean>; release(): Promise<void> };
  clock: Clock;
  log: Logger;
  /** Delay before retry n (n = 1…); after the last, the delivery is dead-lettered. */
  retrySchedule: number[];
  timeoutMs: number;
  tickMs: number;
  /** Deliveries sent at once per tick. */
  concurrency?: number;
  onDelivery?: (status: 'delivered' | 'failed' | 'dead' | 'disabled') => void;
  random?: () => number;
  /** Finished deliveries are kept this long (ms), then pruned. */
  keepMs?: number;
  /** A failed tick's database error in words for the log (what it means, what to do). */
  describeError?: (e: unknown) => string;
}

/**
 * Sends outbox events to subscribers, once per cluster (leader-elected): at least once each,
 * signed as Standard Webhooks, retried on a backoff schedule with jitter, dead-lettered after
 * the last attempt. A delivery's state changes only after its attempt is logged, so a process
 * killed mid-request leaves it pending and it is sent again (the webhook-id stays the same,
 * so receivers can drop duplicates).
 */
export class DeliveryWorker {
  private periodic: Periodic | undefined;
  private stopped = false;
  private readonly inflight = new Set<AbortController>();
  /** Deliveries being sent now, so a slow receiver never holds up the others. */
  private readonly busy = new Map<string, Promise<void>>();
  private prunedAt = 0;
  /** Subscriptions whose destination this process has said it refuses (once each: every attempt is refused alike). */
  private readonly saidRefused = new Set<string>();
  private checking: Promise<void> | undefined;

  constructor(private readonly o: DeliveryWorkerOptions) {}

  async tick(): Promise<void> {
    const { store, clock } = this.o;
    const now = clock.now();
    if (!(await this.o.leader.acquire(now.getTime()))) return;
    // Beside the deliveries, not before them: a name that is slow to resolve must not hold them up.
    this.checking ??= this.checkSubscriptions().catch((e) => this.o.log.warn({ err: errorMessage(e) }, "webhook subscriptions' receivers were not checked"));
    await store.fanOut(now.toISOString());
    if (now.getTime() - this.prunedAt > 3_600_000) {
      this.prunedAt = now.getTime();
      await store.prune(new Date(now.getTime() - (this.o.keepMs ?? 7 * 86_400_000)).toISOString());
    }
    const room = (this.o.concurrency ?? 16) - this.busy.size;
    if (room <= 0) return;
    const batch = (await store.due(now.toISOString(), room + this.busy.size)).filter((d) => !this.busy.has(d.id)).slice(0, room);
    for (const d of batch) {
      const p = this.deliver(d)
        .catch((e) => this.o.log.error({ delivery: d.id, err: errorMessage(e) }, 'recording a webhook attempt failed; it will be sent again'))
        .finally(() => this.busy.delete(d.id));
      this.busy.set(d.id, p);
    }
  }

  /**
   * Once, when this process first leads delivery: every enabled subscription whose receiver this
   * server refuses (an internal address without WEBHOOK_ALLOW_PRIVATE=on, a name that does not
   * resolve) is said in the log. Such a subscription stays enabled and its deliveries wait and
   * retry until they are dead letters, so a subscription made before the refusal existed (an
   * upgrade from 0.0.1), or before the setting was turned off, would otherwise fail quietly.
   */
  private async checkSubscriptions(): Promise<void> {
    for (const sub of await this.o.store.list()) {
      const refused = sub.enabled ? await destinationRefusal(sub.url, { allowPrivate: this.o.allowPrivate, resolve: this.o.resolve ?? systemResolver }) : undefined;
      if (refused) this.sayRefused(sub.id, sub.url, refused);
    }
  }

  private sayRefused(subscription: string, url: string, error: string): void {
    if (this.saidRefused.has(subscription)) return;
    this.saidRefused.add(subscription);
    this.o.log.warn(
      { subscription, url, error },
      `webhook subscription ${subscription} is refused by this server (${error}); its deliveries wait, are retried and end as dead letters: point it at a receiver this server may reach (modelgate webhooks add, then remove ${subscription}), or set what the refusal names and restart; modelgate webhooks retry-dlq sends the dead letters again`,
    );
  }

  /** Resolves when every delivery started so far has finished (tests). */
  async idle(): Promise<void> {
    await this.checking;
    while (this.busy.size) await Promise.all([...this.busy.values()]);
  }

  private async deliver(d: DueDelivery): Promise<void> {
    const { clock, log } = this.o;
    const attempt = d.attempts + 1;
    // Attempts number on across retry-dlq; the schedule starts over at each.
    const inRound = attempt - d.scheduleFrom;
    const ac = new AbortController();
    this.inflight.add(ac);
    const sent = await sendEvent(
      d.subscription,
      d.event_id,
      d.body,
      { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivate, resolve: this.o.resolve, now: clock.now().getTime() },
      ac,
    ).finally(() => this.inflight.delete(ac));
    const { statusCode, error, response, durationMs } = sent;
    if (this.stopped && error && sent.aborted) return; // shutting down: leave it pending for the next leader
    if (sent.refused && error) this.sayRefused(d.subscription.id, d.subscription.url, error);
    const at = clock.now().toISOString();
    if (statusCode === 410) {
      await this.o.store.attempted({ id: d.id, attempt, at, statusCode, error: 'HTTP 410 Gone', durationMs, response, next: { status: 'cancelled' } });
      await this.o.store.disable(d.subscription.id, `the receiver answered 410 Gone at ${at}`, at);
      log.warn({ subscription: d.subscription.id, url: d.subscription.url }, 'webhook receiver answered 410 Gone; subscription disabled');
      this.o.onDelivery?.('disabled');
      return;
    }
    if (!error) {
      await this.o.store.attempted({ id: d.id, attempt, at, statusCode, error: null, durationMs, next: { status: 'delivered' } });
      this.o.onDelivery?.('delivered');
      return;
    }
    const schedule = this.o.retrySchedule;
    if (inRound > schedule.length) {
      await this.o.store.attempted({ id: d.id, attempt, at, statusCode, error, durationMs, response, next: { status: 'dead' } });
      log.warn({ delivery: d.id, event: d.event_id, url: d.subscription.url, attempts: attempt, error }, 'webhook delivery dead-lettered');
      this.o.onDelivery?.('dead');
      return;
    }
    // Full schedule delay ±20 % jitter, so many failing deliveries do not retry in lockstep; Retry-After wins when given.
    const base = schedule[inRound - 1];
    const delay = sent.retryAfterMs ?? Math.round(base * (0.8 + 0.4 * (this.o.random ?? Math.random)()));
    await this.o.store.attempted({ id: d.id, attempt, at, statusCode, error, durationMs, response, next: { status: 'pending', at: new Date(clock.now().getTime() + delay).toISOString() } });
    log.info({ delivery: d.id, url: d.subscription.url, attempt, error, retry_in_ms: delay }, 'webhook delivery failed; will retry');
    this.o.onDelivery?.('failed');
  }

  start(): void {
    this.periodic = startPeriodic({
      run: () => this.tick(),
      intervalMs: this.o.tickMs,
      firstMs: Math.min(this.o.tickMs, 1000),
      jitter: 0,
      log: this.o.log,
      what: 'webhook delivery tick',
      timers: this.o.timers,
      describeError: this.o.describeError,
    });
  }

  /** Stop: abort requests in flight (they stay pending, for the next leader) and release leadership. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const ac of this.inflight) ac.abort(new Error('server shutting down'));
    await this.periodic?.stop();
    await this.idle();
    await this.o.leader.release().catch(() => undefined);
  }
}
