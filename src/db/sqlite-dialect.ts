import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig, type TransactionSettings } from 'kysely';

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
  readonly #sqlite: { inTransaction: boolean } | undefined;

  constructor(config: SqliteDialectConfig) {
    super(config);
    // better-sqlite3's Database says whether SQLite still holds a transaction open.
    this.#sqlite = typeof config.database === 'function' ? undefined : (config.database as unknown as { inTransaction: boolean });
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

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
