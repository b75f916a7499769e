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
  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin' : 'begin immediate'));
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
