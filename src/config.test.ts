import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES, ConfigError, loadConfig, wildcardHost } from './config.js';
import { createLogger } from './lib/logger.js';

const base = { MODELGATE_ADMIN_TOKEN: 'a-token-of-enough-length' };

describe('config', () => {
  it('every setting has a row in the README configuration table', () => {
    const readme = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8');
    // Names in a row's first cell (one row may name two settings: `JWT_ISSUER`, `JWT_AUDIENCE`).
    const rows = new Set([...readme.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1].matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((n) => n[1])));
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(40);
    expect(CONFIG_VARIABLES.filter((k) => !rows.has(k))).toEqual([]);
  });

  it('has defaults for everything and resolves SQLite and the artifact dir inside the data dir', () => {
    const c = loadConfig({ ...base, MODELGATE_DATA_DIR: '/srv/mg' });
    expect(c).toMatchObject({ PORT: 8080, HOST: wildcardHost(), WORKERS: 1, LOG_LEVEL: 'info', MODELGATE_AUTH: true, PREDICT_MAX_INSTANCES: 1000 });
    expect(c.database).toEqual({ kind: 'sqlite', file: '/srv/mg/modelgate.db' });
    expect(c.artifacts).toEqual({ kind: 'dir', dir: '/srv/mg/artifacts' });
  });

  it('reads PostgreSQL, S3 and WORKERS=auto', () => {
    const c = loadConfig({ ...base, DATABASE_URL: 'postgres://u:p@db/mg', ARTIFACT_STORE: 's3://models-bucket/team/prod/', S3_ENDPOINT: 'http://127.0.0.1:9000', WORKERS: 'auto' }, 6);
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db/mg', poolMax: 10 });
    expect(c.artifacts).toEqual({ kind: 's3', bucket: 'models-bucket', prefix: 'team/prod' });
    expect(c.WORKERS).toBe(6);
  });

  it('RATE_LIMIT_DEFAULT is checked with the same parser as key rates, at start', () => {
    expect(loadConfig({ ...base, RATE_LIMIT_DEFAULT: '20/10s' }).RATE_LIMIT_DEFAULT).toBe('20/10s');
    // Shaped like a rate but a window under 100 ms: refused now, not when the server builds its routes.
    for (const bad of ['100/10ms', '0/s', 'lots']) expect(() => loadConfig({ ...base, RATE_LIMIT_DEFAULT: bad })).toThrow(/RATE_LIMIT_DEFAULT.*requests per window/);
  });

  it('lists every bad variable at once, with what is expected', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({ PORT: '99999', WORKERS: 'many', LOG_LEVEL: 'chatty', S3_ENDPOINT: 'not a url', MODELGATE_AUTH: 'maybe', BATCH_MAX_ROWS: '0', REDIS_URL: 'localhost:6379' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.message;
    for (const v of ['PORT', 'WORKERS', 'LOG_LEVEL', 'S3_ENDPOINT', 'MODELGATE_AUTH', 'BATCH_MAX_ROWS', 'REDIS_URL']) expect(text).toContain(v);
    expect(err!.problems.length).toBe(7);
    expect(text).toMatch(/WORKERS="many": expected a positive whole number or auto/);
  });

  it('LOG_LEVEL in any case; an unknown level lists the accepted ones', () => {
    for (const [given, level] of [
      ['INFO', 'info'],
      ['Warn', 'warn'],
      ['debug', 'debug'],
      [' ERROR ', 'error'],
    ])
      expect(loadConfig({ ...base, LOG_LEVEL: given }).LOG_LEVEL).toBe(level);
    expect(() => loadConfig({ ...base, LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL="verbose": expected one of fatal, error, warn, info, debug, trace, silent \(any case\)/);
  });

  it('log lines carry the level as a word', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => lines.push(l) });
    log.error({ model: 'm' }, 'boom');
    log.debug('hidden');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'error', msg: 'boom', service: 'modelgate' });
  });

  it('HOST: every address by default, IPv6 and IPv4 where the system has IPv6, IPv4 only where it has none; a HOST given is kept', () => {
    const v4 = { family: 'IPv4', address: '127.0.0.1', internal: true, netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: '127.0.0.1/8' } as const;
    const v6 = { family: 'IPv6', address: '::1', internal: true, netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', mac: '00:00:00:00:00:00', cidr: '::1/128', scopeid: 0 } as const;
    expect(wildcardHost({ lo: [v4], eth0: [{ ...v4, address: '10.0.0.5', internal: false }] })).toBe('0.0.0.0');
    expect(wildcardHost({ lo: [v4, v6] })).toBe('::');
    expect(wildcardHost({ eth0: [{ ...v6, address: 'fd00::5', internal: false }] })).toBe('::');
    expect(wildcardHost({})).toBe('0.0.0.0');
    expect(loadConfig({ ...base, HOST: '127.0.0.1' }).HOST).toBe('127.0.0.1');
  });

  it('a secret that is refused is not shown in the error, only its length (the error goes to the log of every restart)', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({ MODELGATE_ADMIN_TOKEN: 'short-MARKER1', MODELGATE_SERVICE_TOKENS: 'svc-MARKER2', JWT_SECRET: 'jwt-MARKER3', JWT_SECRET_PREVIOUS: 'x' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toEqual([
      'MODELGATE_ADMIN_TOKEN=(13 characters, not shown): expected at least 16 characters',
      'MODELGATE_SERVICE_TOKENS=(11 characters, not shown): expected comma-separated tokens of at least 16 characters each',
      'JWT_SECRET=(11 characters, not shown): expected at least 32 characters',
      'JWT_SECRET_PREVIOUS=(1 character, not shown): expected at least 32 characters',
    ]);
    expect(err!.message).not.toMatch(/MARKER/);
  });

  it('requires an admin token unless auth is off', () => {
    expect(() => loadConfig({})).toThrow(/MODELGATE_ADMIN_TOKEN is unset/);
    expect(loadConfig({ MODELGATE_AUTH: 'off' }).MODELGATE_AUTH).toBe(false);
    expect(() => loadConfig({ ...base, ARTIFACT_STORE: 's3://AB' })).toThrow(/valid bucket name/);
  });
});

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ MODELGATE_DATA_DIR: '/tmp/modelgate-config-test', MODELGATE_AUTH: 'off', ...env });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

describe('a numeric setting out of its range', () => {
  it('says the range, whether the value is too small, too large, negative, a fraction or not a number', () => {
    // Before: "expected a number" for all of these, of 10 and -1 too.
    expect(problemsOf({ BODY_LIMIT_BYTES: '10' })).toEqual(['BODY_LIMIT_BYTES="10": expected a whole number from 1,024 to 536,870,912']);
    for (const v of ['-1', '1.5', 'abc', '86400001']) expect(problemsOf({ CACHE_TTL_MS: v }), v).toEqual([`CACHE_TTL_MS="${v}": expected a whole number from 0 to 86,400,000`]);
    expect(problemsOf({ CACHE_TTL_MS: '86400000', BODY_LIMIT_BYTES: '1024' })).toEqual([]);
  });
});
