import path from 'node:path';
import { sqliteDiskFull } from '../lib/disk-space.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { unwritableOwner } from '../lib/file-owner.js';
import { TLS_ERROR_CODES, tlsProblem } from '../lib/tls-errors.js';
import { serverDeclinedTls } from './pg-connection.js';
import { SQLITE_BUSY_WAIT_MS } from './sqlite-dialect.js';

/**
 * node-postgres's error when sslmode asks for TLS and the server has none. It carries no code;
 * codeOf gives it this one, so it is told apart like the rest.
 */
const NO_TLS = 'SERVER_WITHOUT_TLS';

/** Codes meaning the database cannot be reached or opened at all (network, TLS, authentication, no such database or file). */
const DB_UNREACHABLE_CODES = new Set([
  ...TLS_ERROR_CODES,
  NO_TLS,
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  '28P01',
  '28000',
  '3D000',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
]);

/** The error with a code for node-postgres's code-less "The server does not support SSL connections". */
function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return serverDeclinedTls(e) ? NO_TLS : undefined;
}

/** A connection that failed at its start (unreachable, TLS, authentication): what to do next. */
export function connectionAdvice(e: unknown): string {
  const code = codeOf(e);
  switch (tlsProblem(e)) {
    case 'untrusted':
      return "the server's TLS certificate is not signed by a CA this process trusts: name the CA's certificate file with sslrootcert=/path/to/ca.pem in DATABASE_URL (or NODE_EXTRA_CA_CERTS=/path/to/ca.pem), or use sslmode=require to encrypt without checking the certificate";
    case 'host-name':
      return "the server's TLS certificate was issued for another host name: connect by a name it was issued for, or use sslmode=verify-ca with sslrootcert to check the CA only";
    case 'dates':
      return "the server's TLS certificate has expired or is not valid yet: renew it on the server (or check this machine's clock)";
    case 'protocol':
      return "the TLS handshake failed: check that the port is PostgreSQL's and that the server's TLS settings match DATABASE_URL's sslmode";
  }
  if (code === NO_TLS) return 'the server does not offer TLS: remove sslmode from DATABASE_URL (or sslmode=disable), or turn ssl on in the server';
  if (code === '28000' && e instanceof Error && /client certificate|certificate authentication failed/.test(e.message)) {
    return "the server authenticates by client certificate: add sslcert=/path/to/client.pem&sslkey=/path/to/client.key to DATABASE_URL, a certificate signed by a CA in the server's ssl_ca_file and issued to the database user (its common name)";
  }
  if (code === '28000' && e instanceof Error && /no encryption/.test(e.message)) {
    return 'the server accepts only encrypted connections: add ?sslmode=require to DATABASE_URL (sslmode=verify-full with sslrootcert to check its certificate too)';
  }
  if (code === '3D000') return 'the server has no database of that name: create it (CREATE DATABASE …, owned by the user modelgate connects as) or correct its name in DATABASE_URL';
  if (code === '28000' && e instanceof Error && /role .* does not exist/.test(e.message))
    return 'the server has no such user: create it (CREATE ROLE … LOGIN PASSWORD …) or correct the user in DATABASE_URL';
  if (code === '28P01') return 'the server refused the password: correct it in DATABASE_URL (percent-encode @, :, / and # in it: p@ss is p%40ss)';
  return 'check DATABASE_URL and that the server is running and reachable';
}

/** True when the error means the database could not be reached or opened at all. */
export function isDbUnreachable(e: unknown): boolean {
  const code = codeOf(e);
  return code !== undefined && DB_UNREACHABLE_CODES.has(code);
}

/**
 * Codes meaning the database is there but cannot take the request now: PostgreSQL's
 * connection exceptions (class 08), too many connections, shutting down or starting up;
 * SQLite still locked after its busy timeout, a full disk; and any SQLITE_IOERR (an I/O error).
 */
const BUSY_CODES = new Set(['08000', '08001', '08003', '08004', '08006', '53300', '57P01', '57P02', '57P03', 'SQLITE_BUSY', 'SQLITE_FULL']);

/** node-postgres's own words for a connection lost or never made (it gives them no code). */
const LOST_CONNECTION = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * True when the database is there but takes no connection now (PostgreSQL starting up or shutting
 * down, out of connections, a connection lost): at start, a wait and a retry, not a reason to exit.
 */
export function isDbBusy(e: unknown): boolean {
  const code = codeOf(e);
  return (code !== undefined && BUSY_CODES.has(code)) || (e instanceof Error && LOST_CONNECTION.test(e.message));
}

/** PostgreSQL's disk_full: the server's own data or WAL volume. */
const PG_DISK_FULL = '53100';

/** PostgreSQL's read_only_sql_transaction: a standby (read replica), or a server set to refuse writes. */
export const PG_READ_ONLY = '25006';

/** PostgreSQL's lock_not_available (lock_timeout), query_canceled (statement_timeout, pg_cancel_backend) and deadlock_detected. */
const PG_LOCK_NOT_AVAILABLE = '55P03';
const PG_QUERY_CANCELED = '57014';
const PG_DEADLOCK = '40P01';

/** PostgreSQL's insufficient_privilege, and invalid_schema_name (no usable schema on the search path). */
const PG_INSUFFICIENT_PRIVILEGE = '42501';
const PG_UNDEFINED_SCHEMA = '3F000';

/**
 * A change the database refused for want of disk: SQLite's (sqliteFile: the database this
 * process writes) or the PostgreSQL server's. Retrying will not help until someone frees space,
 * so it says where. Undefined for any other error.
 */
function databaseDiskFull(e: unknown, sqliteFile?: string): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  if (sqliteFile) return sqliteDiskFull(e, sqliteFile);
  const code = codeOf(e);
  if (code !== PG_DISK_FULL) return undefined;
  return new AppError('UNAVAILABLE', `the PostgreSQL server's disk is full (${code}: ${errorMessage(e)}): free space on its data volume, then retry; the change was not made`, { code });
}

/**
 * A change a PostgreSQL server refused because it takes no writes: a standby, which is what a
 * DATABASE_URL naming a read replica reaches, and what the old primary is for a while after a
 * failover (or a cluster endpoint whose DNS still names it). Undefined for any other error.
 */
function databaseReadOnly(e: unknown): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error) || codeOf(e) !== PG_READ_ONLY) return undefined;
  return new AppError(
    'UNAVAILABLE',
    `the PostgreSQL server takes no writes (${PG_READ_ONLY}: ${errorMessage(e)}): DATABASE_URL leads to a standby — a read replica, or the old primary during a failover — so point it at the primary (the cluster's writer endpoint); a failover under way ends by itself, retry in a moment; the change was not made`,
    { code: PG_READ_ONLY },
  );
}

/**
 * A statement that waited too long for a lock another session or program holds, or that the
 * server itself cancelled (its statement_timeout, a deadlock, another session's
 * pg_cancel_backend): a DBA's lock_timeout or statement_timeout on the role is common, and
 * these were internal errors (HTTP 500) and a bare "canceling statement due to lock timeout" in
 * the CLI. What holds the lock is outside modelgate, so the message says where to look.
 */
function databaseWaitedOut(e: unknown, sqliteFile?: string): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  const code = codeOf(e);
  const said = `${code}: ${errorMessage(e)}`;
  let why: string;
  if (code === 'SQLITE_BUSY')
    why = `another connection held the write lock of the SQLite database${sqliteFile ? ` ${sqliteFile}` : ''} for over ${SQLITE_BUSY_WAIT_MS / 1000} s (${said}): a modelgate command still running, or a sqlite3 shell or other program left in a transaction (end it); retry then`;
  else if (code === PG_LOCK_NOT_AVAILABLE)
    why = `another session holds a lock this needs, and the PostgreSQL server's lock_timeout ended the wait (${said}): a transaction left open (a psql session in BEGIN; pg_stat_activity shows it as 'idle in transaction'), a long query or a migration on the same table; retry once it ends`;
  else if (code === PG_QUERY_CANCELED && /statement timeout/.test(e.message))
    why = `the PostgreSQL server cancelled the statement at its statement_timeout (${said}): a wait for another session's lock counts toward it, and so does a long read (monitoring a long window, an export); retry, and if it recurs raise statement_timeout for modelgate's database user (ALTER ROLE … SET statement_timeout = '60s')`;
  else if (code === PG_QUERY_CANCELED) why = `another session cancelled the statement (${said}; pg_cancel_backend); retry`;
  else if (code === PG_DEADLOCK) why = `the PostgreSQL server broke a deadlock with another session by cancelling this statement (${said}); retry`;
  else return undefined;
  return new AppError('UNAVAILABLE', `${why}; nothing was changed`, { code });
}

/**
 * The database user lacks a privilege: on PostgreSQL 15 and later only the database's owner may
 * create tables in `public`, so a role made for modelgate fails its first migration; and tables
 * another role migrated (a Kubernetes migrate Job run as an admin) are not the app role's. The
 * driver says only "permission denied for schema public".
 */
function databasePermission(e: unknown): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  const code = codeOf(e);
  if (code === PG_UNDEFINED_SCHEMA && /no schema has been selected/.test(e.message))
    return new AppError(
      'UNAVAILABLE',
      `no schema on the database user's search_path can be used (${code}: ${errorMessage(e)}): the schema DATABASE_URL's search_path names does not exist or the user may not use it; as the owner or a superuser run CREATE SCHEMA … AUTHORIZATION that user, or GRANT USAGE, CREATE ON SCHEMA … TO that user; nothing was changed`,
      { code },
    );
  if (code !== PG_INSUFFICIENT_PRIVILEGE) return undefined;
  const said = `${PG_INSUFFICIENT_PRIVILEGE}: ${errorMessage(e)}`;
  const on = /permission denied for (schema|table|sequence) "?([^"\s]+)"?/.exec(e.message);
  let why: string;
  if (on?.[1] === 'schema')
    why = `the database user in DATABASE_URL may not create or use tables in schema ${on[2]} (${said}): PostgreSQL 15 and later let only the database's owner create tables in public; as the owner or a superuser run GRANT USAGE, CREATE ON SCHEMA ${on[2]} TO that user (or ALTER DATABASE … OWNER TO it), or give modelgate a schema of its own (CREATE SCHEMA modelgate AUTHORIZATION that user, then ?options=-c%20search_path%3Dmodelgate in DATABASE_URL)`;
  else if (on)
    why = `the database user in DATABASE_URL may not use modelgate's ${on[1]} ${on[2]} (${said}): the tables belong to the role that ran the migrations; connect as that role, or as it run GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA … TO that user and GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA … TO that user`;
  else why = `the database user in DATABASE_URL lacks a privilege this needs (${said}): grant it, or connect as the role that ran the migrations`;
  return new AppError('UNAVAILABLE', `${why}; nothing was changed`, { code: PG_INSUFFICIENT_PRIVILEGE });
}

/**
 * A SQLite file that is damaged (a copy taken while a server wrote it, a network file system, a
 * disk fault) or is not a SQLite database at all. The driver's "database disk image is
 * malformed" says nothing of what to do, and a server answered it as an internal error.
 */
function sqliteDamaged(e: unknown, sqliteFile?: string): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  const code = codeOf(e);
  const file = sqliteFile ?? 'the SQLite database';
  const said = `${code}: ${errorMessage(e)}`;
  if (code === 'SQLITE_NOTADB')
    return new AppError(
      'UNAVAILABLE',
      `${file} is not a SQLite database (${said}): DATABASE_URL or MODELGATE_DATA_DIR names another kind of file (an encrypted or other program's file), or its first page is damaged; point them at modelgate's database, or move this file aside and restore the latest backup into a new one (modelgate restore BACKUP); nothing was changed`,
      { code },
    );
  if (typeof code !== 'string' || !code.startsWith('SQLITE_CORRUPT')) return undefined;
  return new AppError(
    'UNAVAILABLE',
    `${file} is damaged (${said}): stop every server and command using it, move it aside with its -wal and -shm files (mv ${sqliteFile ?? 'FILE'} ${sqliteFile ?? 'FILE'}.damaged), then restore the latest backup into a new one (modelgate restore BACKUP) or rescue what SQLite can still read (sqlite3 ${sqliteFile ?? 'FILE'}.damaged .recover | sqlite3 ${sqliteFile ?? 'FILE'}); copying the file while a server writes it, or keeping it on a network file system, are the usual causes; nothing was changed`,
    { code },
  );
}

/**
 * A SQLite file this process may read but not write: most often made by a command run as
 * another user (sudo, a container's root) before the servers ran as theirs. Reads work, so the
 * first write said only "attempt to write a readonly database".
 */
function sqliteNotWritable(e: unknown, sqliteFile?: string): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error) || !sqliteFile) return undefined;
  const code = codeOf(e);
  if (typeof code !== 'string' || !code.startsWith('SQLITE_READONLY')) return undefined;
  const uid = process.getuid?.();
  const dir = path.dirname(sqliteFile);
  const locked = [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`, dir].flatMap((f) => {
    const o = unwritableOwner(f);
    return o?.exists ? [`${f} belongs to uid ${o.uid} (mode ${o.mode})`] : [];
  });
  const whose = locked.length ? `${locked.join(', ')}: made by a command run as another user (sudo, or a container's root); ` : '';
  return new AppError(
    'UNAVAILABLE',
    `${sqliteFile} cannot be written by this process${uid !== undefined ? ` (uid ${uid})` : ''} (${code}: ${errorMessage(e)}): ${whose}give the database, its -wal and -shm files and their directory to the user the servers run as (chown ${uid ?? 'USER'} ${sqliteFile}* ${dir}), or run modelgate as their owner; nothing was changed`,
    { code },
  );
}

/**
 * A change the database refused and why, with what to do: a full disk, a server that takes no
 * writes, a missing privilege, a damaged or unwritable SQLite file (retrying as is will not
 * do), a lock held elsewhere past the wait's limit.
 */
export function databaseRefusal(e: unknown, sqliteFile?: string): AppError | undefined {
  return databaseDiskFull(e, sqliteFile) ?? databaseReadOnly(e) ?? databasePermission(e) ?? sqliteDamaged(e, sqliteFile) ?? sqliteNotWritable(e, sqliteFile) ?? databaseWaitedOut(e, sqliteFile);
}

/**
 * A request that failed because the database is out of reach, as the 503 a client can retry
 * on, instead of an internal error: the server is fine and the request may succeed in a moment.
 * A full disk says so and where (sqliteFile: the SQLite database this process writes), since
 * retrying will not help until someone frees space.
 */
export function databaseUnavailable(e: unknown, sqliteFile?: string): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  const refused = databaseRefusal(e, sqliteFile);
  if (refused) return refused;
  const code = codeOf(e);
  const known = typeof code === 'string' && (DB_UNREACHABLE_CODES.has(code) || BUSY_CODES.has(code) || code.startsWith('SQLITE_IOERR'));
  if (!known && !LOST_CONNECTION.test(e.message)) return undefined;
  return new AppError(
    'UNAVAILABLE',
    `the database is unavailable (${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(e)}); retry shortly (GET /health shows the registry as unreachable until it is back)`,
  );
}
