import { AppError, errorMessage } from '../lib/errors.js';

/** Codes meaning the database cannot be reached or opened at all (network, authentication, no such database or file). */
export const DB_UNREACHABLE_CODES = new Set([
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

/**
 * Codes meaning the database is there but cannot take the request now: PostgreSQL's
 * connection exceptions (class 08), too many connections, shutting down or starting up;
 * SQLite still locked after its busy timeout, a full disk; and any SQLITE_IOERR (an I/O error).
 */
const BUSY_CODES = new Set(['08000', '08001', '08003', '08004', '08006', '53300', '57P01', '57P02', '57P03', 'SQLITE_BUSY', 'SQLITE_FULL']);

/** node-postgres's own words for a connection lost or never made (it gives them no code). */
const LOST_CONNECTION = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * A request that failed because the database is out of reach, as the 503 a client can retry
 * on, instead of an internal error: the server is fine and the request may succeed in a moment.
 */
export function databaseUnavailable(e: unknown): AppError | undefined {
  if (e instanceof AppError || !(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  const known = typeof code === 'string' && (DB_UNREACHABLE_CODES.has(code) || BUSY_CODES.has(code) || code.startsWith('SQLITE_IOERR'));
  if (!known && !LOST_CONNECTION.test(e.message)) return undefined;
  return new AppError(
    'UNAVAILABLE',
    `the database is unavailable (${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(e)}); retry shortly (GET /health shows the registry as unreachable until it is back)`,
  );
}
