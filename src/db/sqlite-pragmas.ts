import type SQLiteDatabase from 'better-sqlite3';

/** What the WAL file is cut back to after a checkpoint empties it. */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Settings every connection to a modelgate SQLite file uses: the request thread's, the audit writer thread's. */
export function applySqlitePragmas(db: SQLiteDatabase.Database): void {
  db.pragma('journal_mode = WAL');
  // WAL with NORMAL syncs at checkpoints, not on every commit: better-sqlite3 runs on the
  // event loop, and an fsync per audit batch stalls every request. A power cut may lose the
  // last commits; the database stays consistent.
  db.pragma('synchronous = NORMAL');
  // The CLI and running servers share the file; wait for a writer instead of failing. The
  // request thread's connection waits between attempts instead (ImmediateSqliteDialect), as
  // this wait sleeps in its thread; the audit writer's thread keeps it.
  db.pragma('busy_timeout = 5000');
  // While a long reader holds its snapshot (a backup with --include-audit under load), no
  // checkpoint can empty the WAL and it grows: 1.4 GB in the 43 s of one backup. SQLite keeps
  // the file at that size for reuse unless told a limit.
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  db.pragma('foreign_keys = ON');
}
