import { readOnEachUse } from '../lib/read-on-each-use.js';
import { unreadableFile } from '../lib/unreadable-file.js';
import type pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';

/** The sslmode values libpq documents, plus node-postgres's own no-verify. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
const FILE_PARAMETERS = ['sslrootcert', 'sslcert', 'sslkey'] as const;

function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/**
 * What is wrong with a PostgreSQL URL's TLS settings, each said so the operator can fix it;
 * empty when nothing is. Checked with the configuration, so a typo stops the server at start
 * instead of surfacing as a connection error it would retry forever.
 */
export function pgUrlProblems(url: string): string[] {
  const q = queryOf(url);
  const problems: string[] = [];
  const mode = q.get('sslmode');
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    problems.push(`sslmode=${mode} is not a mode modelgate knows: use ${SSL_MODES.filter((m) => m !== 'no-verify').join(', ')} (as in libpq), or no-verify`);
  }
  if (mode === 'verify-ca' && !q.get('sslrootcert')) {
    problems.push('sslmode=verify-ca checks the certificate against a CA you name: add sslrootcert=/path/to/ca.pem, or use sslmode=verify-full to check it against the public CAs and the host name');
  }
  for (const p of FILE_PARAMETERS) {
    const file = q.get(p);
    if (file === null || (p === 'sslrootcert' && file === 'system')) continue;
    const unreadable = unreadableFile(file);
    if (unreadable) problems.push(`${p}=${file} cannot be read (${unreadable}): mount the file there, or correct the path`);
  }
  if (q.get('sslrootcert') === 'system' && mode !== 'verify-full') {
    problems.push(`sslrootcert=system checks the certificate against the public CAs and needs sslmode=verify-full (as in libpq), not ${mode ?? 'no sslmode'}`);
  }
  return problems;
}

/** The URL's sslmode, or null without one. */
export const sslModeOf = (url: string): string | null => queryOf(url).get('sslmode');

/** A server that takes only encrypted connections refusing a plain one (pg_hba.conf's hostssl). */
export const serverRequiresTls = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === '28000' && e instanceof Error && /no encryption/.test(e.message);

/** node-postgres's code-less error for a server that answered "no" to TLS. */
export const serverDeclinedTls = (e: unknown): boolean => e instanceof Error && /does not support SSL connections/.test(e.message);

/**
 * node-postgres's client settings for a URL, reading sslmode as libpq does (psql, PostgreSQL's
 * documentation, the connection strings managed services hand out): `require` encrypts without
 * checking the certificate, or checks it against the CA when `sslrootcert` names one;
 * `verify-ca` checks the CA only; `verify-full` the CA and the host name. node-postgres 8 reads
 * `require` as `verify-full` unless told otherwise, so a URL that works in psql against a
 * server with a private certificate failed here with "unable to verify the first certificate",
 * after a nine-line warning. A URL that says `uselibpqcompat` itself, or `sslmode=no-verify`
 * (node-postgres's own), is read as node-postgres reads it. `sslrootcert=system` (libpq 16)
 * means Node's own list of public CAs.
 */
export function pgClientConfig(url: string): pg.ClientConfig {
  const q = queryOf(url);
  let mode = q.get('sslmode');
  let source = url;
  // allow is plain text first (node-postgres does not know it); db.ts asks for TLS where a server refuses plain text.
  if (mode === 'allow') {
    q.set('sslmode', (mode = 'disable'));
    source = `${url.slice(0, url.indexOf('?'))}?${q.toString()}`;
  }
  if (q.get('sslrootcert') === 'system') {
    q.delete('sslrootcert');
    source = `${url.slice(0, url.indexOf('?'))}${q.size ? `?${q.toString()}` : ''}`;
  }
  const libpq = mode !== null && mode !== 'no-verify' && !q.has('uselibpqcompat');
  const config = toClientConfig(parse(source, libpq ? { useLibpqCompat: true } : {}));
  // pg-connection-string has read the files once, for now; read again for each new connection, a renewed certificate is used without a restart.
  if (config.ssl && typeof config.ssl === 'object') {
    const ssl = config.ssl;
    const file = (parameter: string, property: 'ca' | 'cert' | 'key') => (property in ssl ? (q.get(parameter) ?? undefined) : undefined);
    readOnEachUse(ssl, { ca: file('sslrootcert', 'ca'), cert: file('sslcert', 'cert'), key: file('sslkey', 'key') }, (property) => ssl[property] as string);
  }
  // Named in pg_stat_activity (how a DBA counts and finds modelgate's connections) unless the URL names it.
  return { fallback_application_name: 'modelgate', ...config };
}
