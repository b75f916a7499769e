import { createPrivateFile, mkdirPrivate } from '../lib/private-files.js';
import path from 'node:path';
import type SQLiteDatabase from 'better-sqlite3';
import type PgCursor from 'pg-cursor';
import { Kysely, Migrator, sql, type MigrationResultSet, type Transaction } from 'kysely';
import type pg from 'pg';
import { lazyRequire } from '../lib/lazy-require.js';
import type { Database } from './schema.js';
import { redactUrl } from '../lib/redact-url.js';
import { pgClientConfig, serverDeclinedTls, serverRequiresTls, sslModeOf } from './pg-connection.js';
import { SchemaScopedPostgresDialect } from './pg-introspector.js';
import { closingReadOnlyConnections } from './pg-read-only-pool.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';
import { applySqlitePragmas } from './sqlite-pragmas.js';
import { allMigrations } from './migrations/index.js';

import type { Dialect } from './dialect.js';

export type { Dialect };

export type DbLocation =
  | { kind: 'sqlite'; file: string }
  | {
      kind: 'postgres';
      url: string;
      /** isolate in this schema (created if missing) */
      schema?: string;
      /** most connections the pool opens (default 10) */
      poolMax?: number;
    };

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** Where it points, with any password removed: safe to print. */
  describe: string;
  /** How it was opened (for a dedicated connection, such as a session advisory lock). */
  location: DbLocation;
  /** PostgreSQL only: the pool behind kysely, for what kysely cannot express (COPY). */
  pgPool?: pg.Pool;
  close(): Promise<void>;
}

// Each driver is loaded when a database of its kind is first opened.
const sqliteDriver = lazyRequire<typeof SQLiteDatabase>('better-sqlite3');
const pgCursor = lazyRequire<typeof PgCursor>('pg-cursor');
// bigint columns (sizes, counters) fit in a double for every value modelgate stores.
const pgDriver = lazyRequire<typeof pg>('pg', (driver) => driver.types.setTypeParser(driver.types.builtins.INT8, (v) => Number(v)));

export async function openDb(loc: DbLocation): Promise<Db> {
  if (loc.kind === 'sqlite') {
    if (loc.file !== ':memory:') {
      mkdirPrivate(path.dirname(loc.file));
      createPrivateFile(loc.file);
    }
    const SQLite = sqliteDriver();
    const sqlite = new SQLite(loc.file);
    applySqlitePragmas(sqlite);
    const kysely = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
    return { kysely, dialect: 'sqlite', describe: `sqlite:${loc.file}`, location: loc, close: () => kysely.destroy() };
  }
  await settleTlsFallback(loc.url);
  if (loc.schema) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(loc.schema)) throw new Error(`invalid schema name ${loc.schema}`);
    const admin = new (pgDriver().Client)(urlConfig(loc.url));
    await admin.connect();
    try {
      await admin.query(`create schema if not exists ${loc.schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new (pgDriver().Pool)({
    ...clientConfig(loc),
    max: loc.poolMax ?? 10,
    // A server that accepts TCP but never finishes the handshake (starting, failing over) must
    // not hold a request or a flush forever.
    connectionTimeoutMillis: 5000,
  });
  // An idle connection that the server drops (restart, failover) emits 'error' on the pool;
  // unheard, that would crash the process. The pool discards the client and the next query
  // reconnects or fails with its own error, which callers handle (the audit log spills).
  pool.on('error', () => undefined);
  // The same for a connection that drops while checked out between two queries (inside a
  // transaction, say): the client is then unusable, its next query fails, and the pool
  // discards it on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  // The cursor lets long reads (monitoring a day of predictions) stream instead of loading everything.
  const kysely = new Kysely<Database>({ dialect: new SchemaScopedPostgresDialect({ pool: closingReadOnlyConnections(pool), cursor: pgCursor() }) });
  return { kysely, dialect: 'postgres', describe: redactUrl(loc.url) + (loc.schema ? ` (schema ${loc.schema})` : ''), location: loc, pgPool: pool, close: () => kysely.destroy() };
}

/** URLs with sslmode=prefer whose server declined TLS: their connections are plain text, as libpq's prefer makes them. */
const declinedTls = new Set<string>();
/** URLs with sslmode=allow whose server refused plain text: their connections are encrypted, as libpq's allow makes them. */
const requiredTls = new Set<string>();

/**
 * sslmode=prefer and allow as libpq reads them. prefer: TLS when the server offers it, else plain
 * text (node-postgres ends the connection when the server declines TLS instead of going on
 * without it). allow: plain text, and TLS without checking the certificate when the server takes
 * only encrypted connections (node-postgres does not know the mode). A first connection tries the
 * mode's first choice; a server that refuses it gets the other from then on. Any other failure
 * is left to the connections that follow, which report it.
 */
async function settleTlsFallback(url: string): Promise<void> {
  const mode = sslModeOf(url);
  const fallback = mode === 'prefer' ? { to: declinedTls, when: serverDeclinedTls } : mode === 'allow' ? { to: requiredTls, when: serverRequiresTls } : undefined;
  if (!fallback || fallback.to.has(url)) return;
  const probe = new (pgDriver().Client)(pgClientConfig(url));
  try {
    await probe.connect();
  } catch (e) {
    if (fallback.when(e)) fallback.to.add(url);
    return;
  }
  await probe.end().catch(() => undefined);
}

/** pgClientConfig, without TLS where sslmode=prefer met a server that declined it, with it where sslmode=allow met one that requires it. */
function urlConfig(url: string): pg.ClientConfig {
  if (requiredTls.has(url)) return pgClientConfig(url.replace(/([?&])sslmode=allow(?=&|$)/, '$1sslmode=require'));
  const config = pgClientConfig(url);
  return declinedTls.has(url) ? { ...config, ssl: false } : config;
}

/** The URL's settings, with the schema (when isolated in one) first on the search path. */
function clientConfig(loc: Extract<DbLocation, { kind: 'postgres' }>): pg.ClientConfig {
  const config = urlConfig(loc.url);
  if (!loc.schema) return config;
  // Beside any options the URL sets itself (a statement_timeout, say), not instead of them.
  return { ...config, options: [config.options, `-c search_path=${loc.schema}`].filter(Boolean).join(' ') };
}

/** A connection outside the pool, with the same schema setting (PostgreSQL only). */
export async function dedicatedPgClient(loc: Extract<DbLocation, { kind: 'postgres' }>): Promise<pg.Client> {
  const client = new (pgDriver().Client)(clientConfig(loc));
  await client.connect();
  return client;
}

/**
 * Where each migration is recorded. A release's Kysely refuses to start on a database whose
 * ledger names a migration it does not know ("corrupted migrations"), so the release that
 * shipped with 001–015 (0.1.0, 2026-12-02) could not be rolled back to once a later one had
 * migrated. Its ledger, kysely_migration, therefore holds exactly those fifteen; every later
 * migration is recorded in modelgate_migration, which 0.1.0 never reads, and this release
 * tolerates there what a newer one added.
 */
const LEDGERS = [
  { table: 'kysely_migration', lock: 'kysely_migration_lock', holds: (name: string) => name < FIRST_LATER_MIGRATION },
  { table: 'modelgate_migration', lock: 'modelgate_migration_lock', holds: (name: string) => name >= FIRST_LATER_MIGRATION },
] as const;
/** The first migration 0.1.0 did not ship with. */
const FIRST_LATER_MIGRATION = '016';

/**
 * Kysely looks for its migration tables by name in every schema unless told which one, so a
 * second modelgate in another schema of the same database would think it had migrated.
 * Pin them to the schema this connection works in.
 */
async function migrators(db: Db): Promise<Migrator[]> {
  let migrationTableSchema: string | undefined;
  if (db.dialect === 'postgres') {
    const r = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely);
    migrationTableSchema = r.rows[0]?.schema;
  }
  const all = Object.entries(allMigrations(db.dialect));
  return LEDGERS.map(
    (ledger) =>
      new Migrator({
        db: db.kysely,
        provider: { getMigrations: async () => Object.fromEntries(all.filter(([name]) => ledger.holds(name))) },
        migrationTableName: ledger.table,
        migrationLockTableName: ledger.lock,
        ...(migrationTableSchema ? { migrationTableSchema } : {}),
      }),
  );
}

type Executor = Kysely<Database> | Transaction<Database>;

async function tableExists(q: Executor, dialect: Dialect, table: string): Promise<boolean> {
  // Asked first, so a new database's server log shows no failed query.
  return dialect === 'postgres'
    ? ((await sql<{ present: boolean }>`select to_regclass(${table}) is not null as present`.execute(q)).rows[0]?.present ?? false)
    : (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name = ${table}`.execute(q)).rows.length > 0;
}

/** The migrations either ledger names, oldest first. */
async function executedMigrations(q: Executor, dialect: Dialect): Promise<string[]> {
  const names: string[] = [];
  for (const { table } of LEDGERS) {
    if (await tableExists(q, dialect, table)) names.push(...(await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(q)).rows.map((r) => r.name));
  }
  return names.sort();
}

/** The last migration applied ('' for none), read through `q` (a backup's snapshot): a restore needs a modelgate that knows it. */
export async function lastMigration(q: Executor, dialect: Dialect): Promise<string> {
  return (await executedMigrations(q, dialect)).at(-1) ?? '';
}

/**
 * Builds between 0.1.0 and this change recorded every migration in kysely_migration: the later
 * ones move to modelgate_migration (in one transaction, the same rows), so 0.1.0 starts on the
 * database again.
 */
async function moveLaterMigrations(db: Db): Promise<void> {
  if (!(await tableExists(db.kysely, db.dialect, 'kysely_migration'))) return;
  const later = await sql<{ name: string }>`select name from kysely_migration where name >= ${FIRST_LATER_MIGRATION}`.execute(db.kysely);
  if (!later.rows.length) return;
  await db.kysely.transaction().execute(async (tx) => {
    // Two servers starting at once: one moves the rows, the other then finds none (SQLite's write transactions are serial already).
    if (db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('modelgate_migration'))`.execute(tx);
    await sql`create table if not exists modelgate_migration (name varchar(255) not null primary key, timestamp varchar(255) not null)`.execute(tx);
    await sql`insert into modelgate_migration (name, timestamp) select name, timestamp from kysely_migration where name >= ${FIRST_LATER_MIGRATION} on conflict (name) do nothing`.execute(tx);
    await sql`delete from kysely_migration where name >= ${FIRST_LATER_MIGRATION}`.execute(tx);
  });
}

/**
 * Migrations the database has and this release does not know: a newer release migrated it.
 * Empty for a database never migrated.
 */
async function newerMigrations(db: Db): Promise<string[]> {
  const known = allMigrations(db.dialect);
  return (await executedMigrations(db.kysely, db.dialect)).filter((name) => !(name in known));
}

/**
 * Bring the schema to this release's latest. A database a newer release migrated is used as it
 * is (migrations only add tables and columns, so an older release reads it): rolling an image
 * back must not stop it at start, where Kysely's own check refused it as "corrupted migrations".
 * `newer` names those migrations.
 */
export async function migrate(db: Db): Promise<MigrationResultSet & { newer?: string[] }> {
  await moveLaterMigrations(db);
  const newer = await newerMigrations(db);
  if (newer.length) {
    const missing = await pendingMigrations(db);
    if (missing.length) {
      throw new Error(
        `the database has migrations this release does not know (${newer.join(', ')}) and lacks ones it does (${missing.join(', ')}): it was migrated by another line of releases; use a release that knows all of them`,
      );
    }
    return { results: [], newer };
  }
  const results: NonNullable<MigrationResultSet['results']> = [];
  for (const m of await migrators(db)) {
    const result = await m.migrateToLatest();
    results.push(...(result.results ?? []));
    if (result.error) {
      const failed = result.results?.find((r) => r.status === 'Error');
      // No failed migration means the database could not be reached at all: keep that error as it is.
      if (!failed) throw result.error;
      // The driver's code stays on it, so a full disk or a lost connection is still told apart.
      const code = (result.error as { code?: unknown }).code;
      throw Object.assign(new Error(`migration ${failed.migrationName} failed: ${(result.error as Error).message ?? result.error}`, { cause: result.error }), typeof code === 'string' ? { code } : {});
    }
  }
  return { results };
}

/** Names of migrations not yet applied, in either ledger; empty when the schema is current. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const executed = new Set(await executedMigrations(db.kysely, db.dialect));
  return Object.keys(allMigrations(db.dialect)).filter((name) => !executed.has(name));
}
