import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../lib/private-files.js';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Timers } from '../lib/clock.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import { CopyBatch } from './copy-batch.js';
import type { AuditStore, PredictionRecord } from './store.js';

export interface AuditWriterOptions {
  store: AuditStore;
  log: Logger;
  /** Where records go while the database cannot take them. */
  spillDir: string;
  flushMs: number;
  batchRows: number;
  /** Records held in memory at most; beyond it they go straight to the spill file. */
  queueMax: number;
  onWritten?: (n: number, via: 'direct' | 'replay') => void;
  onSpilled?: (n: number) => void;
  /** Records neither written nor spilled (the spill file could not be written either). */
  onLost?: (n: number) => void;
  /** Timers for the flush loop (tests advance them by hand). */
  timers?: Timers;
  /** A database error in words for the log and /health (what it means, what to do); default: the driver's message. */
  describeError?: (e: unknown) => string;
}

const SPILL = /^spill-(\d+)-[0-9a-z]+\.jsonl$/;
const CLAIMED = /^spill-\d+-[0-9a-z]+\.jsonl\.replaying-(\d+)$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long after its last refusal, with no record tried since, /health still shows the database refusing audit records. */
const REFUSAL_SHOWN_MS = 60_000;
/** While the database is down and no record comes to try it, how often spill files are offered to it anyway. */
const IDLE_PROBE_MS = 1000;

/**
 * The prediction audit log's writer. The request path only pushes a record onto an in-memory
 * queue; a timer writes it in batches (COPY on PostgreSQL), every flushMs or at once when
 * batchRows are waiting. When the database refuses a batch, the batch is appended to a spill file in the
 * data directory (one JSON line per record) and serving goes on; once the database answers
 * again, spill files are replayed in order. Inserts ignore ids already present, so a replay
 * cut short by a crash can simply run again. close() writes or spills everything queued, so
 * SIGTERM loses nothing.
 */
export class AuditWriter {
  /** Batches of at most batchRows records, oldest first; only the last one still takes records. */
  private queue: CopyBatch[] = [];
  private queued = 0;
  /** Bytes a new batch starts with: a little over what the last full one held. */
  private batchBytes: number | undefined;
  private ticker: Periodic | undefined;
  private flushing: Promise<void> | undefined;
  private spillFile: string | undefined;
  private spillChain: Promise<void> = Promise.resolve();
  /** This process's spill files that no replay has written yet, with the records each holds. */
  private readonly ownSpills = new Map<string, number>();
  /** Records lost since the loss began (a full disk under both): said when it begins and when records are kept again. */
  private lost: number | undefined;
  /** True while spill files may be waiting for the database. */
  private pendingSpill = true;
  private replaying: Promise<void> | undefined;
  private dbDown = false;
  /** Flush ticks since the last write was tried, while the database is down and nothing is queued. */
  private idleTicks = 0;
  /** Since when and why the database has been refusing records, and when it last did (ms). */
  private refused: { since: string; error: string; lastMs: number } | undefined;

  constructor(private readonly o: AuditWriterOptions) {}

  get depth(): number {
    return this.queued;
  }

  /**
   * Records this process spilled that no replay has written yet: after close(), what waits on
   * disk for the next server started with this data directory (said in the last log line).
   */
  get waitingOnDisk(): { records: number; files: number; dir: string } {
    let records = 0;
    for (const n of this.ownSpills.values()) records += n;
    return { records, files: this.ownSpills.size, dir: this.o.spillDir };
  }

  /**
   * While the database refuses audit records (they go to spill files, or are lost when those
   * cannot be written): since when and its error. It ends with the next record written, or a
   * minute after the last refusal when no record has come to try since (nothing is at risk).
   */
  get refusal(): { since: string; error: string } | undefined {
    if (!this.refused || Date.now() - this.refused.lastMs > REFUSAL_SHOWN_MS) return undefined;
    return { since: this.refused.since, error: this.refused.error };
  }

  private describe(e: unknown): string {
    return this.o.describeError ? this.o.describeError(e) : errorMessage(e);
  }

  private refusedNow(e: unknown): void {
    const now = Date.now();
    this.refused = this.refused ? { ...this.refused, lastMs: now } : { since: new Date(now).toISOString(), error: this.describe(e), lastMs: now };
  }

  record(r: PredictionRecord): void {
    let open = this.queue[this.queue.length - 1];
    if (!open || open.size >= this.o.batchRows) this.queue.push((open = new CopyBatch(this.batchBytes)));
    open.add(r);
    this.queued++;
    if (open.size === this.o.batchRows) this.batchBytes = Math.ceil(open.byteLength * 1.1);
    if (this.queued >= this.o.queueMax) {
      // The database is far behind: keep memory bounded, keep every record.
      void this.spill(...this.take(this.queue.length));
    } else if (open.size >= this.o.batchRows && !this.flushing) {
      void this.flush();
    }
  }

  /** Remove the oldest n batches from the queue (later records start a new batch). */
  private take(n: number): CopyBatch[] {
    const taken = this.queue.splice(0, n);
    for (const b of taken) this.queued -= b.size;
    return taken;
  }

  start(): void {
    this.ticker = startPeriodic({
      run: async () => {
        // A flush with records tells when the database is back; an idle server has none, so its
        // spill files are offered to the database every IDLE_PROBE_MS instead of waiting for traffic.
        const probe = this.dbDown && this.queued === 0 && this.pendingSpill && ++this.idleTicks * this.o.flushMs >= IDLE_PROBE_MS;
        await this.flush();
        if (this.pendingSpill && (!this.dbDown || probe)) {
          this.idleTicks = 0;
          await this.replay();
        }
      },
      intervalMs: this.o.flushMs,
      jitter: 0,
      what: 'audit flush',
      log: this.o.log,
      timers: this.o.timers,
      onError: (e) => this.o.log.error({ err: this.describe(e) }, 'audit flush failed'),
    });
  }

  /** Write everything queued now (in batches); what the database refuses is spilled. */
  flush(): Promise<void> {
    // A flush under way may stop short of a batch still filling; follow it with one that covers what is queued now.
    if (this.flushing) return this.flushing.then(() => this.flush());
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Writes the batches queued when it starts (the one still filling too), then only batches
   * that fill meanwhile. Chasing every record that arrives during a write would send COPYs of
   * the few records one round trip brings, and PostgreSQL's fixed cost per COPY (a statement, a
   * transaction, its buffers) would then outweigh the rows (docs/performance.md has the
   * figures). What is left waits for the next tick.
   */
  private async drain(): Promise<void> {
    let due = this.queue.length;
    while (this.queue.length && (due-- > 0 || this.queue[0].size >= this.o.batchRows)) {
      const [batch] = this.take(1);
      // While the database is known to be down, go straight to disk; a probe write per flush
      // interval (the first batch) tells when it is back.
      try {
        await this.o.store.appendFresh(batch);
        this.o.onWritten?.(batch.size, 'direct');
        this.keptAgain('written to the database');
        this.backUp();
      } catch (e) {
        this.refusedNow(e);
        if (!this.dbDown) {
          this.dbDown = true;
          this.o.log.error({ err: this.describe(e), spill_dir: this.o.spillDir }, 'the database refuses audit records; spilling them to disk until it is back');
        }
        await this.spill(batch, ...this.take(this.queue.length));
        return;
      }
    }
  }

  /** A write was accepted: the database is up (again). */
  private backUp(): void {
    this.refused = undefined;
    this.idleTicks = 0;
    if (this.dbDown) {
      this.dbDown = false;
      this.o.log.warn('the database takes audit records again; replaying spilled records');
    }
  }

  /** Append to this process's spill file; resolves once written (failures are logged, never thrown). */
  private spill(...batches: CopyBatch[]): Promise<void> {
    const rows = batches.flatMap((b) => b.records());
    if (!rows.length) return Promise.resolve();
    this.pendingSpill = true;
    // A failed append must not stop later ones: each link starts from a settled chain.
    this.spillChain = this.spillChain
      .catch(() => undefined)
      .then(async () => {
        if (!this.spillFile) {
          await mkdir(this.o.spillDir, { recursive: true, mode: PRIVATE_DIR_MODE });
          this.spillFile = path.join(this.o.spillDir, `spill-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.jsonl`);
        }
        const file = path.basename(this.spillFile);
        try {
          await appendFile(this.spillFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n', { mode: PRIVATE_FILE_MODE });
        } catch (e) {
          // A failed append (a full disk) may leave a partial last line: later records go to a new
          // file, so that line stays the last of its file, where replay skips it.
          this.spillFile = undefined;
          throw e;
        }
        this.ownSpills.set(file, (this.ownSpills.get(file) ?? 0) + rows.length);
        this.o.onSpilled?.(rows.length);
        this.keptAgain('spilled to disk');
      });
    return this.spillChain.catch((e) => {
      this.o.onLost?.(rows.length);
      // Once, not every flush (ten lines a second for as long as the disk stays full, into a
      // log that may be on that disk): the count goes on in modelgate_audit_records_total{result="lost"}.
      if (this.lost !== undefined) {
        this.lost += rows.length;
        return;
      }
      this.lost = rows.length;
      this.o.log.fatal(
        { err: errorMessage(e), rows: rows.length, spill_dir: this.o.spillDir },
        'cannot write the audit spill file while the database refuses records: these records are lost; free space in the spill directory or bring the database back (said once; modelgate_audit_records_total{result="lost"} counts them)',
      );
    });
  }

  /** Records are kept again after some were lost: say how many went in all. */
  private keptAgain(how: string): void {
    if (this.lost === undefined) return;
    this.o.log.warn({ lost: this.lost }, `audit records are ${how} again; ${this.lost} were lost in all while neither the database nor the spill file took them`);
    this.lost = undefined;
  }

  /** Replay spill files (ours and those of processes that died) into the database. */
  replay(): Promise<void> {
    if (!this.replaying) {
      this.replaying = this.doReplay().finally(() => {
        this.replaying = undefined;
      });
    }
    return this.replaying;
  }

  private async doReplay(): Promise<void> {
    // New spills go to a new file; the current one is complete once pending appends finish.
    this.spillFile = undefined;
    await this.spillChain.catch(() => undefined);
    let names: string[];
    try {
      names = (await readdir(this.o.spillDir)).sort();
    } catch {
      this.pendingSpill = false;
      return;
    }
    let left = false;
    for (const name of names) {
      let claimed: string;
      const spilled = SPILL.exec(name);
      const stale = CLAIMED.exec(name);
      if (spilled && (Number(spilled[1]) === process.pid || !alive(Number(spilled[1])))) {
        claimed = path.join(this.o.spillDir, `${name}.replaying-${process.pid}`);
        try {
          await rename(path.join(this.o.spillDir, name), claimed);
        } catch {
          continue; // another process claimed it first
        }
      } else if (stale && (Number(stale[1]) === process.pid || !alive(Number(stale[1])))) {
        claimed = path.join(this.o.spillDir, name);
      } else {
        if (spilled || stale) left = true;
        continue;
      }
      const n = await this.replayFile(claimed);
      if (n < 0) return; // database still down: the file stays claimed for the next try
      this.backUp();
      await rm(claimed, { force: true });
      this.ownSpills.delete(path.basename(claimed).replace(/\.replaying-\d+$/, ''));
      if (n > 0) this.o.log.info({ file: path.basename(claimed), records: n }, 'replayed spilled audit records');
    }
    this.pendingSpill = left;
  }

  /** Records written, or -1 when the database failed part-way (the file is kept). */
  private async replayFile(file: string): Promise<number> {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let batch: PredictionRecord[] = [];
    let n = 0;
    const write = async () => {
      await this.o.store.insertMany(batch);
      this.o.onWritten?.(batch.length, 'replay');
      n += batch.length;
      batch = [];
    };
    try {
      for await (const line of lines) {
        if (!line) continue;
        try {
          batch.push(JSON.parse(line) as PredictionRecord);
        } catch {
          // Only a crash during an append can leave a partial line, and only as the last one.
          this.o.log.warn({ file: path.basename(file) }, 'skipping a partial line in an audit spill file');
          continue;
        }
        if (batch.length >= this.o.batchRows) await write();
      }
      if (batch.length) await write();
      return n;
    } catch (e) {
      this.refusedNow(e);
      // Once when it goes down, not at every idle try while it stays down.
      if (!this.dbDown) this.o.log.warn({ err: this.describe(e) }, 'replay of spilled audit records stopped; retrying later');
      this.dbDown = true;
      return -1;
    } finally {
      lines.close();
    }
  }

  /** Stop the timer and write (or spill) everything queued. */
  async close(): Promise<void> {
    await this.ticker?.stop();
    await this.replaying?.catch(() => undefined);
    // A record can still come while the last writes run (a shadow copy finishing); a flush
    // covers only what was queued when it began, so write until nothing is left.
    do await this.flush();
    while (this.queued > 0);
    await this.spillChain.catch(() => undefined);
  }
}
