import type { ArmObserver, OffThreadScorer, Outcome, Row, Servable, ShadowRequest, Task } from '../inference/index.js';
import type { Clock, Timers } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import type { Leader } from './leader.js';
import type { RolloutService } from './service.js';
import type { RolloutStore } from './store.js';
import { ArmRecorder } from './stats.js';

interface ShadowJob {
  model: string;
  shadow: Servable;
  row: Row;
  outcome: Outcome;
  decision: string;
  request?: ShadowRequest;
}

/**
 * How a shadow's answer compares with production's for the same request: multiclass models
 * agree on the class, others on the decision; the difference is |Δscore|, or for a regression
 * model the error relative to production's value.
 */
export function compareOutcomes(task: Task, prod: Outcome, prodDecision: string, shadow: Outcome, shadowDecision: string): { agreed: boolean; difference: number } {
  if (task === 'multiclass') return { agreed: String(prod.label) === String(shadow.label), difference: Math.abs(shadow.score - prod.score) };
  if (task === 'regression') return { agreed: prodDecision === shadowDecision, difference: Math.abs(shadow.score - prod.score) / Math.max(Math.abs(prod.score), 1e-9) };
  return { agreed: prodDecision === shadowDecision, difference: Math.abs(shadow.score - prod.score) };
}

/** A shadow version's result for one copied request (recorded, never returned). */
export interface ShadowScored {
  model: string;
  version: number;
  row: Row;
  featureNames: readonly string[];
  score: number;
  label?: Outcome['label'];
  decision: string;
  latencyMs: number;
  request?: ShadowRequest;
}

export interface RolloutRuntimeOptions {
  store: RolloutStore;
  service: RolloutService;
  leader: Leader;
  clock: Clock;
  log: Logger;
  replica: string;
  flushIntervalMs: number;
  analysisIntervalMs: number;
  shadowQueueMax: number;
  /** Scores shadow copies on a worker thread, so a slow shadow never stalls requests. */
  scorer: OffThreadScorer;
  /** Keep arm statistics this long. */
  statsRetentionMs: number;
  onShadowDropped?: (model: string) => void;
  /** Each shadow result, for the audit log. */
  onShadowScored?: (s: ShadowScored) => void;
  onAnalysis?: (result: 'leader' | 'follower' | 'error', seconds: number) => void;
  /** Timers for the flush and analysis loops (tests advance them by hand). */
  timers?: Timers;
}

/**
 * Per-process rollout machinery: records every routed prediction per arm, scores shadow copies
 * off the request path, flushes counts to the database, and — on the elected leader only —
 * runs the canary analysis each interval.
 */
export class RolloutRuntime implements ArmObserver {
  readonly recorder = new ArmRecorder();
  private queue: ShadowJob[] = [];
  private draining = false;
  private loops: Periodic[] = [];
  private stopped = false;

  constructor(private readonly o: RolloutRuntimeOptions) {}

  scored(model: string, arm: 'production' | 'canary', version: number, latencyMs: number, outcome: Outcome, decision: string, cached: boolean): void {
    this.recorder.success(model, arm, version, latencyMs, outcome.score, decision, cached);
  }

  failed(model: string, arm: 'production' | 'canary', version: number, latencyMs: number): void {
    this.recorder.failure(model, arm, version, latencyMs);
  }

  /** Queue a shadow copy; when the queue is full the copy is dropped and counted, never waited on. */
  shadow(model: string, shadow: Servable, row: Row, outcome: Outcome, decision: string, request?: ShadowRequest): void {
    if (this.queue.length >= this.o.shadowQueueMax) {
      this.o.onShadowDropped?.(model);
      return;
    }
    this.queue.push({ model, shadow, row, outcome, decision, request });
    if (!this.draining) {
      this.draining = true;
      // After the current turn: the caller's response goes out before any shadow work.
      setImmediate(() => void this.drainShadow());
    }
  }

  private async drainShadow(): Promise<void> {
    try {
      while (this.queue.length && !this.stopped) {
        const first = this.queue[0];
        const batch: ShadowJob[] = [];
        const rest: ShadowJob[] = [];
        for (const j of this.queue) (j.shadow === first.shadow && batch.length < 64 ? batch : rest).push(j);
        this.queue = rest;
        const started = process.hrtime.bigint();
        try {
          const outcomes = await this.o.scorer.score(
            first.model,
            first.shadow.spec.version,
            batch.map((j) => j.row),
          );
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          batch.forEach((j, i) => {
            const o = outcomes[i];
            const d = first.shadow.decide(o);
            this.recorder.success(j.model, 'shadow', first.shadow.spec.version, ms, o.score, d, false);
            const { agreed, difference } = compareOutcomes(first.shadow.task, j.outcome, j.decision, o, d);
            this.recorder.comparison(j.model, first.shadow.spec.version, agreed, difference);
            this.o.onShadowScored?.({
              model: j.model,
              version: first.shadow.spec.version,
              row: j.row,
              featureNames: first.shadow.featureNames,
              score: o.score,
              label: o.label,
              decision: d,
              latencyMs: ms,
              request: j.request,
            });
          });
        } catch (e) {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          for (const j of batch) this.recorder.failure(j.model, 'shadow', first.shadow.spec.version, ms);
          this.o.log.debug({ err: errorMessage(e), model: first.model }, 'shadow scoring failed');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Resolves once every queued shadow copy has been scored (or failed). */
  async shadowIdle(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.draining || this.queue.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  /** Write this process's counts since the last flush. */
  async flush(): Promise<void> {
    const rows = this.recorder.drain();
    try {
      await this.o.store.insertStats(rows, this.o.replica, this.o.clock.now().getTime());
    } catch (e) {
      // Put them back: a database hiccup must not lose the counts analysis depends on.
      for (const r of rows) this.recorder.merge(r);
      throw e;
    }
  }

  /** One analysis tick: flush, then analyse if this process leads. Returns the actions taken. */
  async tick(): Promise<{ leader: boolean; actions: { model: string; action: string; detail?: unknown }[] }> {
    const started = process.hrtime.bigint();
    try {
      await this.flush();
      const now = this.o.clock.now().getTime();
      const leader = await this.o.leader.acquire(now);
      if (!leader) {
        this.o.onAnalysis?.('follower', Number(process.hrtime.bigint() - started) / 1e9);
        return { leader, actions: [] };
      }
      const actions = await this.o.service.analyzeAll();
      await this.o.store.pruneStats(now - this.o.statsRetentionMs);
      this.o.onAnalysis?.('leader', Number(process.hrtime.bigint() - started) / 1e9);
      return { leader, actions };
    } catch (e) {
      this.o.onAnalysis?.('error', Number(process.hrtime.bigint() - started) / 1e9);
      throw e;
    }
  }

  start(): void {
    const loop = (intervalMs: number, run: () => Promise<unknown>, what: string) =>
      startPeriodic({ run, intervalMs, what, log: this.o.log, timers: this.o.timers, onError: (e) => this.o.log.error({ err: errorMessage(e) }, `${what} failed; retrying next interval`) });
    this.loops = [loop(this.o.flushIntervalMs, () => this.flush(), 'arm statistics flush'), loop(this.o.analysisIntervalMs, () => this.tick(), 'canary analysis')];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // A flush or analysis under way finishes first; the final flush below then has the last word.
    await Promise.all(this.loops.map((l) => l.stop()));
    await this.flush().catch((e) => this.o.log.warn({ err: errorMessage(e) }, 'final statistics flush failed'));
    await this.o.leader.release().catch(() => undefined);
    await this.o.scorer.close();
  }
}
