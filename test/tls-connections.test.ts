import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import S3rver from 's3rver';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, parseRate, type RateLimiter } from '../src/access/index.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDb } from '../src/db/db.js';
import { AppError } from '../src/lib/errors.js';
import { createLogger } from '../src/lib/logger.js';
import { createS3ArtifactStore } from '../src/registry/index.js';
import { openContext } from '../src/server/context.js';
import { runCli } from './helpers/cli.js';
import { configProblems } from './helpers/config.js';
import { randomId, tempDir } from './helpers/db.js';
import { FIXTURES } from './helpers/fixtures.js';
import { ThrowawayRedis } from './helpers/redis.js';
import { resettingProxy } from './helpers/resetting-proxy.js';
import { issueClientCert, makeCerts, type TestCerts } from './helpers/tls-certs.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

const log = createLogger('silent');

/** Put a file's new contents in place at once (written beside it, then renamed), as a Secret volume's update does. */
function replaceFile(target: string, from: string): void {
  writeFileSync(`${target}.new`, readFileSync(from));
  renameSync(`${target}.new`, target);
}

/** Whether a connection opened on this URL is encrypted, as the server reports for its own session. */
async function sessionEncrypted(url: string): Promise<boolean | undefined> {
  const db = await openDb({ kind: 'postgres', url });
  try {
    const r = await sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(db.kysely);
    return r.rows[0]?.ssl;
  } finally {
    await db.close();
  }
}

/** Open the registry the way every command does, on this DATABASE_URL; the error it fails with. */
async function openWith(url: string): Promise<{ ok: true } | { ok: false; error: unknown }> {
  try {
    const ctx = await openContext(loadConfig({ DATABASE_URL: url, MODELGATE_AUTH: 'off', MODELGATE_DATA_DIR: tempDir() }), log);
    await ctx.close();
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

const failure = async (url: string): Promise<AppError> => {
  const r = await openWith(url);
  expect(r.ok, `${url} should be refused`).toBe(false);
  const e = (r as { error: unknown }).error;
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
};

/**
 * A PostgreSQL that takes TCP connections only over TLS, with a certificate from a private CA
 * issued for `localhost` only, as a managed database or a company's own would be. DATABASE_URL's
 * sslmode means what it means to psql.
 */
describe('PostgreSQL over TLS', () => {
  let pg: ThrowawayPostgres;
  let certs: TestCerts;
  let base: string;
  beforeAll(async () => {
    certs = makeCerts(['DNS:localhost']);
    pg = await ThrowawayPostgres.create(undefined, { tls: certs });
    base = `postgres://postgres@127.0.0.1:${pg.port}/postgres`;
  }, 60_000);
  afterAll(() => pg?.destroy());

  it('sslmode=require encrypts without checking the certificate, as in libpq, and prints no warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      expect(await openWith(`${base}?sslmode=require`)).toEqual({ ok: true });
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /SSL/.test(w))).toEqual([]);
    // The connection is encrypted: the server says so for its own session.
    expect(await sessionEncrypted(`${base}?sslmode=require`)).toBe(true);
    // prefer, to a server that offers TLS: encrypted too.
    expect(await openWith(`${base}?sslmode=prefer`)).toEqual({ ok: true });
    expect(await sessionEncrypted(`${base}?sslmode=prefer`)).toBe(true);
    // allow, to a server that takes only TLS: plain text first, then encrypted, as in libpq.
    expect(await openWith(`${base}?sslmode=allow`)).toEqual({ ok: true });
    expect(await sessionEncrypted(`${base}?sslmode=allow`)).toBe(true);
  });

  it('verify-ca and require with sslrootcert check the CA only; verify-full checks the host name too', async () => {
    const ca = `sslrootcert=${certs.ca}`;
    expect(await openWith(`${base}?sslmode=verify-ca&${ca}`)).toEqual({ ok: true });
    expect(await openWith(`${base}?sslmode=require&${ca}`)).toEqual({ ok: true });
    expect(await openWith(`postgres://postgres@localhost:${pg.port}/postgres?sslmode=verify-full&${ca}`)).toEqual({ ok: true });

    // Issued for localhost, reached as 127.0.0.1.
    const e = await failure(`${base}?sslmode=verify-full&${ca}`);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/^cannot use the database at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?sslmode=verify-full&sslrootcert=\S+ \(ERR_TLS_CERT_ALTNAME_INVALID: /);
    expect(e.message).toContain('issued for another host name');
    expect(e.message).toContain('sslmode=verify-ca');
  });

  it('a certificate from a CA the process does not trust: UNAVAILABLE (so serve retries), naming sslrootcert and NODE_EXTRA_CA_CERTS', async () => {
    for (const url of [`postgres://postgres@localhost:${pg.port}/postgres?sslmode=verify-full`, `postgres://postgres@localhost:${pg.port}/postgres?sslmode=verify-full&sslrootcert=system`]) {
      const e = await failure(url);
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toMatch(/\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN): /);
      expect(e.message).toContain('not signed by a CA this process trusts');
      expect(e.message).toContain('sslrootcert=/path/to/ca.pem');
      expect(e.message).toContain('NODE_EXTRA_CA_CERTS');
    }
    // node-postgres's own no-verify still means what it meant.
    expect(await openWith(`${base}?sslmode=no-verify`)).toEqual({ ok: true });
  });

  it('no sslmode against a server that takes only TLS: the reason and the parameter to add', async () => {
    const e = await failure(base);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain('(28000: ');
    expect(e.message).toContain('add ?sslmode=require to DATABASE_URL');
  });

  it('sslmode=require against a server without TLS says that the server has none; prefer and allow connect in plain text, as in libpq', async () => {
    const plain = await ThrowawayPostgres.create();
    try {
      const e = await failure(`postgres://postgres:hunter2@127.0.0.1:${plain.port}/postgres?sslmode=require`);
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toContain('The server does not support SSL connections');
      expect(e.message).toContain('the server does not offer TLS: remove sslmode');
      expect(e.message).not.toContain('hunter2');
      // prefer, as in libpq: this server declines TLS, so plain text (the server says so for its session).
      const preferUrl = `postgres://postgres@127.0.0.1:${plain.port}/postgres?sslmode=prefer`;
      expect(await openWith(preferUrl)).toEqual({ ok: true });
      expect(await sessionEncrypted(preferUrl)).toBe(false);
      // allow, to a server that takes plain text: plain text.
      const allowUrl = `postgres://postgres@127.0.0.1:${plain.port}/postgres?sslmode=allow`;
      expect(await openWith(allowUrl)).toEqual({ ok: true });
      expect(await sessionEncrypted(allowUrl)).toBe(false);
    } finally {
      plain.destroy();
    }
  }, 60_000);

  it("the URL's own options are kept beside the schema the connection is isolated in", async () => {
    const schema = randomId('tls');
    const db = await openDb({ kind: 'postgres', url: `${base}?sslmode=require&options=-c%20statement_timeout%3D4321`, schema });
    try {
      const r = await sql<{ timeout: string; schema: string }>`select current_setting('statement_timeout') as timeout, current_schema() as schema`.execute(db.kysely);
      expect(r.rows[0]).toEqual({ timeout: '4321ms', schema });
    } finally {
      await db.close();
    }
  });
});

/** A PostgreSQL that authenticates by client certificate (pg_hba `cert`), as some companies' databases do. */
describe('PostgreSQL with client certificates', () => {
  let pg: ThrowawayPostgres;
  let certs: TestCerts;
  let base: string;
  beforeAll(async () => {
    certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    pg = await ThrowawayPostgres.create(undefined, { tls: { ...certs, clientCa: certs.ca } });
    base = `postgres://postgres@127.0.0.1:${pg.port}/postgres?sslmode=verify-full&sslrootcert=${certs.ca}`;
  }, 60_000);
  afterAll(() => pg?.destroy());

  it("sslcert and sslkey: connects as the certificate's user; without one, or with another user's, the reason and the parameters to add", async () => {
    const own = issueClientCert(certs, 'postgres');
    expect(await openWith(`${base}&sslcert=${own.cert}&sslkey=${own.key}`)).toEqual({ ok: true });

    const other = issueClientCert(certs, 'someone-else');
    for (const url of [base, `${base}&sslcert=${other.cert}&sslkey=${other.key}`]) {
      const e = await failure(url);
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.message).toContain('(28000: ');
      expect(e.message).toContain('the server authenticates by client certificate: add sslcert=/path/to/client.pem&sslkey=/path/to/client.key');
    }
  });

  it('a client certificate renewed in place is used from the next connection on, without a restart', async () => {
    const mounted = tempDir();
    const cert = path.join(mounted, 'tls.crt');
    const key = path.join(mounted, 'tls.key');
    const other = issueClientCert(certs, 'someone-else');
    replaceFile(cert, other.cert);
    replaceFile(key, other.key);
    const db = await openDb({ kind: 'postgres', url: `${base}&sslcert=${cert}&sslkey=${key}` });
    try {
      await expect(sql`select current_user as who`.execute(db.kysely)).rejects.toThrow(/certificate authentication failed for user "postgres"/);
      const own = issueClientCert(certs, 'postgres');
      replaceFile(cert, own.cert);
      replaceFile(key, own.key);
      expect((await sql<{ who: string }>`select current_user as who`.execute(db.kysely)).rows).toEqual([{ who: 'postgres' }]);
    } finally {
      await db.close();
    }
  });
});

describe('DATABASE_URL TLS settings checked with the configuration', () => {
  const problems = (url: string): string[] => {
    try {
      loadConfig({ DATABASE_URL: url, MODELGATE_AUTH: 'off' });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };
  const base = 'postgres://app:s3cret@db.internal:5432/modelgate';

  it('an unknown sslmode, verify-ca without a CA, an unreadable file, sslrootcert=system without verify-full: each named, no password shown', () => {
    const cases: [string, RegExp][] = [
      [`${base}?sslmode=required`, /sslmode=required is not a mode modelgate knows: use disable, allow, prefer, require, verify-ca, verify-full/],
      [`${base}?sslmode=verify-ca`, /sslmode=verify-ca checks the certificate against a CA you name: add sslrootcert=/],
      [`${base}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem`, /sslrootcert=\/nonexistent\/ca\.pem cannot be read \(ENOENT\)/],
      [`${base}?sslmode=require&sslcert=/nonexistent/client.pem&sslkey=/nonexistent/client.key`, /sslcert=\/nonexistent\/client\.pem cannot be read \(ENOENT\)/],
      [`${base}?sslmode=require&sslrootcert=system`, /sslrootcert=system .* needs sslmode=verify-full \(as in libpq\), not require/],
      // A directory passes a read check but is no certificate: every connection would fail with EISDIR.
      [`${base}?sslmode=verify-full&sslrootcert=${FIXTURES}`, /sslrootcert=\S+ cannot be read \(not a file\)/],
    ];
    for (const [url, expected] of cases) {
      const found = problems(url);
      expect(found.join('\n'), url).toMatch(expected);
      expect(found.join('\n')).toContain('DATABASE_URL="postgres://app:***@db.internal:5432/modelgate?');
      expect(found.join('\n')).not.toContain('s3cret');
    }
    expect(problems(`${base}?sslmode=require&sslcert=/nonexistent/client.pem&sslkey=/nonexistent/client.key`)).toHaveLength(2);
    for (const ok of [base, `${base}?sslmode=require`, `${base}?sslmode=verify-full`, `${base}?sslmode=disable`, `${base}?sslmode=verify-full&sslrootcert=system`]) {
      expect(problems(ok), ok).toEqual([]);
    }
  });

  it('a malformed URL in a configuration error shows no password', () => {
    const found = problems('postgress://app:s3cret@db.internal/modelgate').join('\n');
    expect(found).toContain('postgress://app:***@db.internal/modelgate');
    expect(found).not.toContain('s3cret');
  });
});

/** Wait for a limiter to give up on connecting and say why (ioredis retries on its own). */
async function reasonOf(limiter: RateLimiter, pattern: RegExp): Promise<string | undefined> {
  let reason: string | undefined;
  for (let i = 0; i < 100; i++) {
    reason = limiter.unavailableReason();
    if (reason && pattern.test(reason)) return reason;
    await new Promise((r) => setTimeout(r, 100));
  }
  return reason;
}

describe('Redis over TLS and with a password', () => {
  let certs: TestCerts;
  let tls: ThrowawayRedis;
  let plain: ThrowawayRedis;
  let locked: ThrowawayRedis;
  const limiters: RateLimiter[] = [];
  const limiter = (url: string) => {
    const l = createRateLimiter({ redisUrl: url, onFailure: 'closed', log });
    limiters.push(l);
    return l;
  };
  beforeAll(async () => {
    certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    [tls, plain, locked] = await Promise.all([ThrowawayRedis.create({ tls: certs }), ThrowawayRedis.create(), ThrowawayRedis.create({ password: 'p4ss-word' })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await Promise.all([tls?.kill(), plain?.kill(), locked?.kill()]);
  });

  it('rediss:// to a certificate the process does not trust: the reason names NODE_EXTRA_CA_CERTS; with it the CLI reaches Redis', async () => {
    const l = limiter(tls.url);
    expect(await l.ready(1000)).toBe(false);
    const reason = await reasonOf(l, /CA/);
    expect(reason).toMatch(/certificate/);
    expect(reason).toContain('not signed by a CA this process trusts');
    expect(reason).toContain('NODE_EXTRA_CA_CERTS=/path/to/ca.pem');
    await expect(l.hit('k', parseRate('5/s'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    // The CLI, as an operator runs it: refused with the reason, then reaching Redis once the CA is trusted.
    const env = { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: tls.url, MODELGATE_AUTH: 'off' };
    const refused = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], env);
    expect(refused.json().error.code).toBe('UNAVAILABLE');
    expect(refused.json().error.message).toMatch(
      /^Redis at rediss:\/\/127\.0\.0\.1:\d+ cannot count rate limits: .*not signed by a CA this process trusts; set REDIS_TLS_CA_FILE=\/path\/to\/ca\.pem, the CA that signed it \(or start the process with NODE_EXTRA_CA_CERTS/,
    );
    const trusted = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, NODE_EXTRA_CA_CERTS: certs.ca });
    // Past Redis: the key is what is missing now.
    expect(trusted.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no API key key_none') });
  }, 30_000);

  it('the wrong scheme either way says which one to use', async () => {
    const toTls = limiter(`redis://127.0.0.1:${tls.port}`);
    expect(await reasonOf(toTls, /rediss:\/\//)).toContain('if it takes only TLS connections, use rediss://');
    const toPlain = limiter(`rediss://127.0.0.1:${plain.port}`);
    expect(await toPlain.ready(1000)).toBe(false);
    expect(await reasonOf(toPlain, /use redis:\/\//)).toMatch(/if this Redis does not use TLS, use redis:\/\//);
  }, 30_000);

  it('a Redis that wants a password: without it or with a wrong one, the reason says where it goes; with it, limits work', async () => {
    for (const url of [locked.url, `redis://:wrong@127.0.0.1:${locked.port}`]) {
      const reason = await reasonOf(limiter(url), /password/);
      expect(reason).toMatch(/^(NOAUTH|WRONGPASS) .*: put Redis's password in REDIS_URL \(redis:\/\/:password@host:6379/);
    }
    const ok = limiter(`redis://:p4ss-word@127.0.0.1:${locked.port}`);
    expect(await ok.ready(10_000)).toBe(true);
    expect(ok.unavailableReason()).toBeUndefined();
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push((await ok.hit(`k-${randomId('x')}`, parseRate('1/m'))).allowed);
    expect(decisions).toEqual([true, true, true]);
    const key = `k-${randomId('y')}`;
    expect([(await ok.hit(key, parseRate('1/m'))).allowed, (await ok.hit(key, parseRate('1/m'))).allowed]).toEqual([true, false]);
  }, 30_000);
});

/**
 * Redis with TLS asks each client for a certificate unless told not to (tls-auth-clients yes is
 * its default, and Bitnami's chart keeps it): REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE give
 * one, REDIS_TLS_CA_FILE the CA to trust without NODE_EXTRA_CA_CERTS (so this process can).
 */
describe('Redis that asks for a client certificate', () => {
  let certs: TestCerts;
  let redis: ThrowawayRedis;
  const limiters: RateLimiter[] = [];
  const limiter = (tls: Parameters<typeof createRateLimiter>[0]['tls']) => {
    const l = createRateLimiter({ redisUrl: redis.url, onFailure: 'closed', log, tls });
    limiters.push(l);
    return l;
  };
  beforeAll(async () => {
    certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    redis = await ThrowawayRedis.create({ tls: { ...certs, authClients: true } });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await redis?.kill();
  });

  it('without one, or with one from another CA, the reason names the settings; with one, limits are counted', async () => {
    const none = limiter({ caFile: certs.ca });
    expect(await none.ready(1000)).toBe(false);
    expect(await reasonOf(none, /client certificate/)).toBe(
      "Redis asks for a client certificate and was sent none (TLS alert: certificate required): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE to a certificate signed by a CA in Redis's tls-ca-cert-file, valid today, or set tls-auth-clients to no or optional in Redis",
    );
    const stranger = issueClientCert(makeCerts(['DNS:localhost']), 'modelgate');
    const refused = limiter({ caFile: certs.ca, certFile: stranger.cert, keyFile: stranger.key });
    // Both test CAs have the same name, so Redis finds "its" CA and the signature fails: "decrypt error"; a CA of another name reads "unknown ca".
    expect(await reasonOf(refused, /refused the client certificate/)).toMatch(
      /^Redis refused the client certificate of REDIS_TLS_CERT_FILE \(TLS alert: (decrypt error|unknown ca)\): it must be a certificate signed by a CA in Redis's tls-ca-cert-file, valid today$/,
    );
    await expect(refused.hit('k', parseRate('5/s'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    const client = issueClientCert(certs, 'modelgate');
    const ok = limiter({ caFile: certs.ca, certFile: client.cert, keyFile: client.key });
    expect(await ok.ready(10_000)).toBe(true);
    const key = `k-${randomId('c')}`;
    expect([(await ok.hit(key, parseRate('1/m'))).allowed, (await ok.hit(key, parseRate('1/m'))).allowed]).toEqual([true, false]);
  }, 30_000);

  it('a certificate renewed in place (as a Kubernetes Secret volume is) is sent from the next connection on, without a restart', async () => {
    const mounted = tempDir();
    const certFile = path.join(mounted, 'tls.crt');
    const keyFile = path.join(mounted, 'tls.key');
    const expiring = issueClientCert(makeCerts(['DNS:localhost']), 'modelgate');
    replaceFile(certFile, expiring.cert);
    replaceFile(keyFile, expiring.key);
    const renewing = limiter({ caFile: certs.ca, certFile, keyFile });
    expect(await reasonOf(renewing, /refused the client certificate/)).toMatch(/^Redis refused the client certificate of REDIS_TLS_CERT_FILE/);
    const renewed = issueClientCert(certs, 'modelgate');
    replaceFile(certFile, renewed.cert);
    replaceFile(keyFile, renewed.key);
    expect(await renewing.ready(10_000)).toBe(true);
    const key = `k-${randomId('r')}`;
    expect([(await renewing.hit(key, parseRate('1/m'))).allowed, (await renewing.hit(key, parseRate('1/m'))).allowed]).toEqual([true, false]);
  }, 30_000);

  it('a reset after the refusal (a second error on the socket) does not end the process: the reason is reported', async () => {
    // Node reports a TLS alert that follows the handshake without closing the socket, and ioredis listens for one error per socket: the reset after it used to crash the process.
    // Over a link that takes 400 ms each way (or a busy machine): the command waits for the alert
    // instead of saying "Command timed out" after the server's 250 ms.
    const proxy = await resettingProxy(redis.port, 500, 400);
    try {
      const env = { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: `rediss://127.0.0.1:${proxy.port}`, MODELGATE_AUTH: 'off', REDIS_TLS_CA_FILE: certs.ca };
      const refused = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], env);
      expect(refused.stderr).not.toContain('Unhandled');
      expect(refused.json().error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('Redis asks for a client certificate and was sent none') });
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('the CLI, configured by the variables, reaches it; a missing file or half a pair is refused at start', async () => {
    const client = issueClientCert(certs, 'modelgate');
    const env = { MODELGATE_DATA_DIR: tempDir(), REDIS_URL: redis.url, MODELGATE_AUTH: 'off', REDIS_TLS_CA_FILE: certs.ca };
    const ok = await runCli(['ratelimit', 'show', '--key', 'key_none', '--json'], { ...env, REDIS_TLS_CERT_FILE: client.cert, REDIS_TLS_KEY_FILE: client.key });
    // Past Redis: the key is what is missing now.
    expect(ok.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no API key key_none') });

    const problems = configProblems;
    expect(problems({ REDIS_URL: redis.url, REDIS_TLS_CERT_FILE: client.cert })).toEqual([
      'REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE: a client certificate needs both, the certificate and its private key',
    ]);
    expect(problems({ REDIS_URL: `redis://127.0.0.1:${redis.port}`, REDIS_TLS_CA_FILE: certs.ca })).toEqual([
      'REDIS_TLS_* files are set, but REDIS_URL does not use TLS: they apply to a TLS connection; set REDIS_URL=rediss://host:port',
    ]);
    expect(problems({ REDIS_URL: redis.url, REDIS_TLS_CA_FILE: FIXTURES })).toEqual([
      `REDIS_TLS_CA_FILE=${JSON.stringify(FIXTURES)}: cannot read it (not a file); mount the PEM file there or fix the path`,
    ]);
    expect(problems({ REDIS_URL: redis.url, REDIS_TLS_CERT_FILE: '/nowhere/client.pem', REDIS_TLS_KEY_FILE: client.key })).toEqual([
      'REDIS_TLS_CERT_FILE="/nowhere/client.pem": cannot read it (ENOENT); mount the PEM file there or fix the path',
    ]);
    const cli = await runCli(['models', '--json'], { ...env, REDIS_TLS_KEY_FILE: client.key });
    expect(cli.code).toBe(2);
    expect(cli.json().error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('REDIS_TLS_KEY_FILE is set without REDIS_TLS_CERT_FILE') });
  }, 30_000);
});

describe('S3 over TLS', () => {
  let certs: TestCerts;
  let s3: S3rver;
  let endpoint: string;
  beforeAll(async () => {
    certs = makeCerts(['DNS:localhost', 'IP:127.0.0.1']);
    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: tempDir('s3rver-'),
      silent: true,
      key: readFileSync(certs.key),
      cert: readFileSync(certs.cert),
      configureBuckets: [{ name: 'tls-models', configs: [] }],
    });
    const { port } = await s3.run();
    endpoint = `https://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(() => s3?.close());

  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

  it('an endpoint whose certificate the process does not trust, or reached by http://: the fix is named', async () => {
    const untrusted = createS3ArtifactStore({ bucket: 'tls-models', prefix: 'a', region: 'us-east-1', endpoint, credentials });
    await expect(untrusted.put(Buffer.from('model bytes'))).rejects.toThrow(
      /^cannot write to the artifact store s3:\/\/tls-models\/a: .*; S3_ENDPOINT's TLS certificate is not signed by a CA this process trusts: start it with NODE_EXTRA_CA_CERTS/,
    );
    const plainHttp = createS3ArtifactStore({ bucket: 'tls-models', prefix: 'a', region: 'us-east-1', endpoint: endpoint.replace('https:', 'http:'), credentials });
    await expect(plainHttp.put(Buffer.from('model bytes'))).rejects.toThrow(/S3_ENDPOINT closed the connection: if it takes only TLS connections, use https:\/\//);
  });

  it('with NODE_EXTRA_CA_CERTS the CLI registers into it, without the AWS SDK notice about Node versions', async () => {
    const env = {
      MODELGATE_DATA_DIR: tempDir(),
      ARTIFACT_STORE: 's3://tls-models/registered',
      S3_ENDPOINT: endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      NODE_EXTRA_CA_CERTS: certs.ca,
    };
    const r = await runCli(['register', '--model', 'tls-churn', '--onnx', path.join(FIXTURES, 'telco_gbdt.onnx'), '--json'], env, { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ model: 'tls-churn', version: 1 });
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK/);
    const verify = await runCli(['verify', '--json'], env, { timeoutMs: 120_000 });
    expect(verify.code, verify.stderr).toBe(0);
  }, 180_000);
});
