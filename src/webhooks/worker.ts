import type { Clock, Timers } from '../lib/clock.js';
import { checkDestination, systemResolver, type Resolver } from './destination.js';
import { errorMessage } from '../lib/errors.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Logger } from '../lib/logger.js';
import { responseStart } from './response-start.js';
import { signatures } from './signing.js';
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
}

/** Seconds or an HTTP date, as Retry-After may carry (RFC 9110); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
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

  constructor(private readonly o: DeliveryWorkerOptions) {}

  async tick(): Promise<void> {
    const { store, clock } = this.o;
    const now = clock.now();
    if (!(await this.o.leader.acquire(now.getTime()))) return;
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

  /** Resolves when every delivery started so far has finished (tests). */
  async idle(): Promise<void> {
    while (this.busy.size) await Promise.all([...this.busy.values()]);
  }

  private async deliver(d: DueDelivery): Promise<void> {
    const { clock, log } = this.o;
    const attempt = d.attempts + 1;
    // Attempts number on across retry-dlq; the schedule starts over at each.
    const inRound = attempt - d.scheduleFrom;
    const startedAt = clock.now();
    const timestamp = Math.floor(startedAt.getTime() / 1000);
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    const started = process.hrtime.bigint();
    let statusCode: number | null = null;
    let error: string | null = null;
    let retryAfter: number | undefined;
    let response: string | null = null;
    try {
      // Checked again at each delivery: a name can be pointed at an internal address after the subscription was made.
      await checkDestination(new URL(d.subscription.url), { allowPrivate: this.o.allowPrivate, resolve: this.o.resolve ?? systemResolver });
      const res = await fetch(d.subscription.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'modelgate-webhooks/1',
          'webhook-id': d.event_id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatures(d.subscription, d.event_id, timestamp, d.body),
        },
        body: d.body,
        signal: ac.signal,
        redirect: 'manual',
      });
      statusCode = res.status;
      if (res.status === 429 || res.status === 503) retryAfter = retryAfterMs(res.headers.get('retry-after'), Date.now());
      if (res.status < 200 || res.status >= 300) {
        error = `HTTP ${res.status}`;
        // What the receiver said is what the on-call needs to fix it (a refused signature, a bad field).
        response = await responseStart(res.body);
      } else await res.body?.cancel().catch(() => undefined); // a delivery's answer is not needed
    } catch (e) {
      error = ac.signal.aborted ? String((ac.signal.reason as Error)?.message ?? 'aborted') : errorMessage((e as { cause?: unknown }).cause ?? e);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
    if (this.stopped && error && ac.signal.aborted) return; // shutting down: leave it pending for the next leader
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
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
    const delay = retryAfter ?? Math.round(base * (0.8 + 0.4 * (this.o.random ?? Math.random)()));
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
