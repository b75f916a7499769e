import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult, type SqliteDialectConfig, type TransactionSettings } from 'kysely';

/** How long a statement waits for another connection's write lock before it fails (SQLITE_BUSY). */
export const SQLITE_BUSY_WAIT_MS = 5000;

/** Extended codes of a lock that a later attempt can get; SQLITE_BUSY_SNAPSHOT (a stale snapshot) is not one. */
const RETRYABLE = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_RECOVERY']);

const isRetryableBusy = (e: unknown): boolean => RETRYABLE.has((e as { code?: unknown } | null)?.code as string);

export interface BusyWait {
  /** Milliseconds a statement keeps trying for a lock in all (default SQLITE_BUSY_WAIT_MS). */
  waitMs?: number;
  /** Waits between attempts (tests pass their own). */
  sleep?: (ms: number) => Promise<unknown>;
  /** Milliseconds, monotonic (tests pass their own). */
  now?: () => number;
}

/** One holder at a time, served in the order they asked. */
class Mutex {
  #held = false;
  readonly #waiting: (() => void)[] = [];

  async lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  unlock(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held = false;
  }
}

/**
 * Waits for another connection's lock between attempts instead of inside SQLite. SQLite's own
 * busy timeout sleeps in the calling thread, and better-sqlite3 runs on the event loop: while a
 * CLI command, a `sqlite3` shell or the audit writer thread held the write lock, one background
 * write (a webhook tick, a key's last use) stopped every request for up to its five seconds.
 * Only what cannot have taken effect is tried again: a statement that found the file locked, a
 * BEGIN IMMEDIATE that could not take the write lock.
 */
class BusyWaitingConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly sqlite: { inTransaction: boolean } | undefined,
    private readonly mutex: Mutex,
    private readonly busy: Required<BusyWait>,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const deadline = this.busy.now() + this.busy.waitMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (e) {
        await this.waitOrThrow(e, deadline, pause);
      }
    }
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    const deadline = this.busy.now() + this.busy.waitMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      let yielded = false;
      try {
        for await (const chunk of this.inner.streamQuery<R>(query, chunkSize)) {
          yielded = true;
          yield chunk;
        }
        return;
      } catch (e) {
        // Rows already given out cannot be taken back: only a stream that gave none starts again.
        if (yielded) throw e;
        await this.waitOrThrow(e, deadline, pause);
      }
    }
  }

  /** After a failed attempt: the error again unless it is a lock and time is left, else a pause before the next. */
  private async waitOrThrow(e: unknown, deadline: number, pause: number): Promise<void> {
    const left = deadline - this.busy.now();
    if (!isRetryableBusy(e) || left <= 0) throw e;
    await this.wait(Math.min(pause, left));
  }

  /**
   * Outside a transaction the waiting caller has nothing open on the connection, so others use
   * it meanwhile: a read (an API key's first use, a model list) must not queue for seconds
   * behind a webhook tick waiting for a lock. Inside one (a read-only snapshot), it is kept.
   */
  private async wait(ms: number): Promise<void> {
    if (this.sqlite?.inTransaction !== false) {
      await this.busy.sleep(ms);
      return;
    }
    this.mutex.unlock();
    try {
      await this.busy.sleep(ms);
    } finally {
      await this.mutex.lock();
    }
  }
}

/**
 * Kysely begins SQLite transactions with a plain (deferred) BEGIN, which takes the write lock
 * only at the first write. A server's file has other writers (the audit log's writer thread,
 * CLI commands, other servers); if one of them commits after such a transaction's first read,
 * its first write fails at once with "database is locked" — the busy timeout does not apply
 * to a stale snapshot. So transactions begin IMMEDIATE: they wait (busy timeout) for the write
 * lock up front and then cannot be refused. Read-only ones (a backup's snapshot) stay deferred,
 * so they never hold writers up.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #sqlite: { inTransaction: boolean; pragma?: (source: string) => unknown } | undefined;
  readonly #busy: Required<BusyWait>;
  readonly #mutex = new Mutex();
  #connection: BusyWaitingConnection | undefined;

  constructor(config: SqliteDialectConfig, busy: BusyWait = {}) {
    super(config);
    // better-sqlite3's Database says whether SQLite still holds a transaction open.
    this.#sqlite = typeof config.database === 'function' ? undefined : (config.database as unknown as { inTransaction: boolean });
    this.#busy = { waitMs: busy.waitMs ?? SQLITE_BUSY_WAIT_MS, sleep: busy.sleep ?? sleep, now: busy.now ?? (() => performance.now()) };
  }

  override async init(): Promise<void> {
    await super.init();
    // The waiting is BusyWaitingConnection's, off the event loop; SQLite's own would block it.
    this.#sqlite?.pragma?.('busy_timeout = 0');
    // Kysely's driver hands its one connection out behind a mutex of its own, which a caller
    // holds while it waits. It is taken once, here, and handed out behind this driver's mutex,
    // which a caller waiting for another connection's lock gives up meanwhile.
    this.#connection = new BusyWaitingConnection(await super.acquireConnection(), this.#sqlite, this.#mutex, this.#busy);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.#connection) throw new Error('the SQLite driver was used before init()');
    await this.#mutex.lock();
    return this.#connection;
  }

  override async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin' : 'begin immediate'));
  }

  /**
   * SQLite rolls a transaction back itself when a disk is full or an I/O error strikes at
   * COMMIT (SQLITE_FULL, SQLITE_IOERR). A ROLLBACK then fails with "no transaction is active",
   * and Kysely would throw that instead of the error that explains what happened.
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#sqlite && !this.#sqlite.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}

export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #busy: BusyWait;

  constructor(config: SqliteDialectConfig, busy: BusyWait = {}) {
    super(config);
    this.#config = config;
    this.#busy = busy;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#busy);
  }
}
