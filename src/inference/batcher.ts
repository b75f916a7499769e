export interface BatcherOptions {
  maxRows: number;
  maxWaitUs: number;
  maxConcurrentRuns?: number;
  /** Shared by batchers whose runs should not overlap (every loaded version in a process). */
  gate?: RunGate;
  /** Monotonic time in nanoseconds for the maxWaitUs bound (tests pass their own). */
  now?: () => bigint;
  /** Milliseconds for RunTiming (performance.now; tests pass their own, the same as their gate's). */
  nowMs?: () => number;
}

/**
 * Filled in by the batcher for one request before its promise resolves: how long it waited for
 * its own version, in ms — from submit to the end of the run that scored it, less the time the
 * event loop spent first on other work in the turn its batch was due (other versions' runs and
 * the replies they resolved) or queued at the gate behind another version.
 *
 * A canary compares its arms' latency. In one process the arms share the event loop, and the
 * smaller arm's batch nearly always runs after the larger arm's run and replies: measured end to
 * end, a canary of the very same model read 2.4 × production's p95 under 32 connections and was
 * rolled back. This measure leaves out what one arm waits for the other, keeping what a request
 * waits for its own version (the turn it arrived in, its version's run in flight, the run).
 */
export interface RunTiming {
  ms: number;
}

/**
 * One run in flight at a time across every batcher that shares the gate; batchers waiting for
 * it take turns in arrival order. onnxruntime-node runs a session synchronously on the event
 * loop, so two runs "at once" only ever ran back to back: serialising them costs nothing, and
 * while one version's run is in flight the other versions' queues keep filling.
 *
 * A released gate passes to the next waiter on the next turn of the event loop, not at once:
 * the waiter's batch then also takes the requests read in that turn's poll phase, instead of
 * leaving them for a run of their own. Two versions splitting the traffic (a canary) then make
 * fewer, fuller runs (counted under the bench's load: about 2,150 runs of 17.8 rows a second,
 * against 2,600 of 14.4 for one version alone and 3,000 of 11.2 when the gate passed at once),
 * and the wait costs nothing while the other version's run keeps the event loop busy (ADR 3).
 * A batcher alone never waits at the gate, so this changes nothing without a second version.
 */
export class RunGate {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private headScheduled = false;
  private turnStartMs = 0;

  constructor(readonly nowMs: () => number = () => performance.now()) {}

  /**
   * When the event loop's check phase reached this gate's batchers in the current turn: a
   * batcher calls noteTick just before scheduling its own tick, so this head runs first (the
   * check phase runs immediates in the order they were scheduled). What ran between it and a
   * batcher's tick was other work, not the batcher's own (RunTiming).
   */
  noteTick(): void {
    if (this.headScheduled) return;
    this.headScheduled = true;
    setImmediate(this.head);
  }

  private readonly head = (): void => {
    this.headScheduled = false;
    this.turnStartMs = this.nowMs();
  };

  get turnStart(): number {
    return this.turnStartMs;
  }

  /** Take the gate (true), or queue `wake`, which is called holding the gate when it is handed over (false). */
  tryAcquire(wake: () => void): boolean {
    if (!this.busy) {
      this.busy = true;
      return true;
    }
    this.waiting.push(wake);
    return false;
  }

  /** Hand the gate to the longest waiter on the next turn (it stays taken meanwhile), or free it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) {
      this.noteTick(); // the turn's head runs before the waiter's run too
      setImmediate(next);
    } else this.busy = false;
  }
}

interface Pending<R, S> {
  row: R;
  resolve: (s: S) => void;
  reject: (e: unknown) => void;
  /** Submitted at (nowMs), when timing is asked for. */
  at: number;
  timing: RunTiming | undefined;
}

/**
 * Coalesces concurrent single-row requests for one model version into one ONNX run.
 * Each run has a large fixed cost and extra rows are nearly free, so this is the main
 * throughput lever. Continuous batching: with no run in flight, a request runs on the next
 * turn of the event loop with whatever arrived in the same turn (a lone request never waits
 * for company); while a run is in flight, arrivals queue and form the next batch, which starts
 * when the run ends or is full. maxWaitUs only bounds how long a batch may wait for company
 * before taking a second concurrent run (maxConcurrentRuns > 1). When a shared run fails, each
 * of its rows is retried alone, so an error reaches only the request that caused it.
 */
export class MicroBatcher<R, S> {
  private queue: Pending<R, S>[] = [];
  private firstAt = 0n;
  private scheduled = false;
  private running = 0;
  private waitingForGate = false;
  /** The gate was handed to this batcher and its run has not started yet. */
  private ownsGate = false;
  /** Since when (nowMs) this batcher has waited for other work: the start of the turn whose tick found the gate taken. */
  private waitingSince: number | undefined;
  private readonly waitNs: bigint;
  private readonly maxConcurrent: number;
  private readonly now: () => bigint;
  private readonly nowMs: () => number;

  constructor(
    private readonly runBatch: (rows: R[]) => Promise<S[]>,
    private readonly opts: BatcherOptions,
  ) {
    this.waitNs = BigInt(opts.maxWaitUs) * 1000n;
    this.maxConcurrent = opts.maxConcurrentRuns ?? 1;
    this.now = opts.now ?? (() => process.hrtime.bigint());
    this.nowMs = opts.nowMs ?? opts.gate?.nowMs ?? (() => performance.now());
  }

  get inFlight(): number {
    return this.running + this.queue.length;
  }

  /** `timing`: filled in before the promise resolves (see RunTiming). */
  submit(row: R, timing?: RunTiming): Promise<S> {
    return new Promise<S>((resolve, reject) => {
      if (this.queue.length === 0) this.firstAt = this.now();
      this.queue.push({ row, resolve, reject, at: timing ? this.nowMs() : 0, timing });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.opts.gate?.noteTick();
    setImmediate(this.tick);
  }

  private readonly tick = (): void => {
    this.scheduled = false;
    this.step();
  };

  private step(): void {
    if (this.queue.length === 0 || this.running >= this.maxConcurrent) return this.dropGate();
    // Nothing running: run now. A run in flight and room for another: wait for company up to maxWaitUs first.
    if (this.running > 0 && this.queue.length < this.opts.maxRows && this.waitNs > 0n && this.now() - this.firstAt < this.waitNs) {
      this.dropGate();
      this.schedule();
      return;
    }
    const gate = this.opts.gate;
    if (gate && !this.ownsGate) {
      if (this.waitingForGate) return; // queued at the gate already; the hand-over schedules us
      if (!gate.tryAcquire(this.wake)) {
        this.waitingForGate = true;
        this.waitingSince = gate.turnStart;
        return;
      }
    }
    this.ownsGate = false; // the run holds it now, until its finally
    const batch = this.queue.splice(0, this.opts.maxRows);
    if (this.queue.length) this.firstAt = this.now();
    this.running++;
    // Other work ran from the start of this turn (or of the wait at the gate) until now.
    const runStart = gate ? this.nowMs() : 0;
    const otherSince = this.waitingSince ?? (gate ? gate.turnStart : 0);
    this.waitingSince = undefined;
    const timed = (p: Pending<R, S>, end: number) => {
      if (p.timing) p.timing.ms = end - p.at - Math.max(0, runStart - Math.max(p.at, otherSince));
    };
    let result: Promise<S[]>;
    try {
      result = this.runBatch(batch.map((p) => p.row));
    } catch (e) {
      result = Promise.reject(e);
    }
    result
      .then(
        (scores): void => {
          const end = this.nowMs();
          for (let i = 0; i < batch.length; i++) {
            timed(batch[i], end);
            batch[i].resolve(scores[i]);
          }
        },
        async (e): Promise<void> => {
          if (batch.length === 1) return batch[0].reject(e);
          // One poison row must not fail the requests that happened to share its run:
          // score each row alone, so only the row that fails gets the error.
          await Promise.all(
            batch.map((p) =>
              this.runBatch([p.row]).then(
                ([s]) => {
                  timed(p, this.nowMs());
                  p.resolve(s);
                },
                (err) => p.reject(err),
              ),
            ),
          );
        },
      )
      .finally(() => {
        this.running--;
        gate?.release();
        if (this.queue.length) this.schedule();
      });
  }

  /** Called holding the gate, on the turn it was handed over: run now, with what has arrived. */
  private readonly wake = (): void => {
    this.waitingForGate = false;
    this.ownsGate = true;
    this.step();
    this.waitingSince = undefined;
  };

  /** Pass on a gate handed to this batcher that it will not use now. */
  private dropGate(): void {
    if (!this.ownsGate) return;
    this.ownsGate = false;
    this.opts.gate!.release();
  }
}
