import SQLite from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PG_URL, freshDb } from '../../test/helpers/db.js';
import { AppError } from '../lib/errors.js';
import { databaseRefusal, databaseUnavailable } from './unavailable.js';

/** The error a call throws (each from the real driver). */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('databaseUnavailable', () => {
  it('is a 503 for a database out of reach or locked, and nothing for errors of the request itself', async () => {
    const loc = freshDb('sqlite');
    const file = (loc as { file: string }).file;
    const holder = new SQLite(file);
    holder.exec('create table t (x integer primary key)');
    holder.exec('begin immediate');
    const other = new SQLite(file, { timeout: 0 });
    const locked = await thrown(() => other.prepare('insert into t (x) values (1)').run());
    holder.exec('rollback');
    const duplicate = await thrown(() => {
      holder.prepare('insert into t (x) values (1)').run();
      holder.prepare('insert into t (x) values (1)').run();
    });
    other.close();
    holder.close();

    const refused = await thrown(async () => {
      const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' });
      await c.connect();
    });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const syntax = await thrown(() => c.query('selec 1'));
    await c.end();

    expect(databaseUnavailable(locked, file)).toMatchObject({
      code: 'UNAVAILABLE',
      message: `another connection held the write lock of the SQLite database ${file} for over 5 s (SQLITE_BUSY: database is locked): a modelgate command still running, or a sqlite3 shell or other program left in a transaction (end it); retry then; nothing was changed`,
    });
    expect(databaseUnavailable(refused)).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('ECONNREFUSED') });
    expect(databaseUnavailable(new Error('Connection terminated unexpectedly'))).toMatchObject({ code: 'UNAVAILABLE' });
    for (const e of [duplicate, syntax, new Error('something else'), new AppError('NOT_FOUND', 'no such model'), 'a string']) expect(databaseUnavailable(e)).toBeUndefined();
  });
});

// A DBA's lock_timeout or statement_timeout on the role is common; each was an internal error.
describe('a PostgreSQL statement that waited too long or was cancelled', () => {
  it('is a 503 that says what held it up and what to do, for lock_timeout, statement_timeout, a deadlock and pg_cancel_backend', async () => {
    const table = `waits_${process.pid}_${Date.now()}`;
    const a = new pg.Client({ connectionString: PG_URL });
    const b = new pg.Client({ connectionString: PG_URL });
    await a.connect();
    await b.connect();
    try {
      await a.query(`create table ${table} (id int primary key, x int)`);
      await a.query(`insert into ${table} values (1, 0), (2, 0)`);
      await a.query('begin');
      await a.query(`update ${table} set x = 1 where id = 1`);
      await b.query("set lock_timeout = '50ms'");
      const lockTimeout = await thrown(() => b.query(`update ${table} set x = 2 where id = 1`));
      await b.query("set lock_timeout = 0; set statement_timeout = '100ms'");
      const statementTimeout = await thrown(() => b.query(`update ${table} set x = 2 where id = 1`));
      await b.query('set statement_timeout = 0');
      // A deadlock: each holds one row and asks for the other's.
      await b.query('begin');
      await b.query(`update ${table} set x = 3 where id = 2`);
      const bWaits = b.query(`update ${table} set x = 3 where id = 1`).then(
        () => undefined,
        (e: unknown) => e,
      );
      const aWaits = a.query(`update ${table} set x = 4 where id = 2`).then(
        () => undefined,
        (e: unknown) => e,
      );
      const deadlock = (await Promise.all([aWaits, bWaits])).find((e) => e !== undefined);
      await a.query('rollback');
      await b.query('rollback');
      // Another session's pg_cancel_backend (an operator stopping a query they thought stuck).
      const bPid = (await b.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      const sleeping = thrown(() => b.query('select pg_sleep(30)'));
      while ((await a.query(`select 1 from pg_stat_activity where pid = $1 and query like 'select pg_sleep%' and state = 'active'`, [bPid])).rowCount === 0)
        await new Promise((r) => setTimeout(r, 10));
      await a.query('select pg_cancel_backend($1)', [bPid]);
      const cancelled = await sleeping;

      expect(databaseUnavailable(lockTimeout)).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(
          /^another session holds a lock this needs, and the PostgreSQL server's lock_timeout ended the wait \(55P03: canceling statement due to lock timeout\): .*; retry once it ends; nothing was changed$/,
        ),
      });
      expect(databaseUnavailable(statementTimeout)).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/^the PostgreSQL server cancelled the statement at its statement_timeout \(57014: canceling statement due to statement timeout\): .*raise statement_timeout/),
      });
      expect(databaseUnavailable(cancelled)).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/^another session cancelled the statement \(57014: canceling statement due to user request; pg_cancel_backend\); retry; nothing was changed$/),
      });
      expect(databaseUnavailable(deadlock)).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/^the PostgreSQL server broke a deadlock with another session by cancelling this statement \(40P01: deadlock detected\); retry; nothing was changed$/),
      });
    } finally {
      await a.query('rollback').catch(() => undefined);
      await a.query(`drop table if exists ${table}`).catch(() => undefined);
      await a.end();
      await b.end();
    }
  });
});

// PostgreSQL 15 and later let only the owner create in public; tables an admin role migrated are not the app role's.
describe('a PostgreSQL user without a privilege modelgate needs', () => {
  it('says which privilege, and the GRANT that gives it', async () => {
    const id = `${process.pid}_${Date.now()}`;
    const role = `app_${id}`;
    const schema = `priv_${id}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`create role ${role} login`);
      await admin.query(`create schema ${schema}`);
      await admin.query(`create table ${schema}.api_keys (id text)`);
      const app = new pg.Client({ connectionString: PG_URL.replace('//postgres@', `//${role}@`) });
      await app.connect();
      const schemaDenied = await thrown(() => app.query(`create table ${schema}.t (x int)`));
      await admin.query(`grant usage on schema ${schema} to ${role}`);
      const tableDenied = await thrown(() => app.query(`select * from ${schema}.api_keys`));
      await app.end();
      expect(databaseRefusal(schemaDenied)).toMatchObject({
        code: 'UNAVAILABLE',
        message: `the database user in DATABASE_URL may not create or use tables in schema ${schema} (42501: permission denied for schema ${schema}): PostgreSQL 15 and later let only the database's owner create tables in public; as the owner or a superuser run GRANT USAGE, CREATE ON SCHEMA ${schema} TO that user (or ALTER DATABASE … OWNER TO it), or give modelgate a schema of its own (CREATE SCHEMA modelgate AUTHORIZATION that user, then ?options=-c%20search_path%3Dmodelgate in DATABASE_URL); nothing was changed`,
      });
      expect(databaseRefusal(tableDenied)).toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(
          /^the database user in DATABASE_URL may not use modelgate's table api_keys \(42501: permission denied for table api_keys\): the tables belong to the role that ran the migrations; .*GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA/,
        ),
      });
      // The server's error handler gives the same (a 503 rather than an internal error).
      expect(databaseUnavailable(tableDenied)?.message).toBe(databaseRefusal(tableDenied)?.message);
    } finally {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
  });
});

// A file a command run as another user made (sudo, a container's root): reads work, and the
// first write said only "attempt to write a readonly database".
describe('a SQLite file this process may not write', () => {
  it('says so and how to give it back to the user the servers run as', async () => {
    const file = (freshDb('sqlite') as { file: string }).file;
    new SQLite(file).exec('create table t (x integer)');
    const reader = new SQLite(file, { readonly: true });
    const refused = await thrown(() => reader.prepare('insert into t (x) values (1)').run());
    reader.close();
    const uid = process.getuid?.() ?? 'USER';
    expect(databaseRefusal(refused, file)).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(
        new RegExp(
          `^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be written by this process \\(uid ${uid}\\) \\(SQLITE_READONLY: attempt to write a readonly database\\): .*give the database, its -wal and -shm files and their directory to the user the servers run as \\(chown ${uid} `,
        ),
      ),
    });
    // The server's error handler: the same 503, not "unavailable; retry shortly".
    expect(databaseUnavailable(refused, file)?.message).toBe(databaseRefusal(refused, file)?.message);
  });
});

// "check DATABASE_URL and that the server is running and reachable" was the advice for a server
// that answered, and said exactly what was wrong.
describe('a PostgreSQL server that refuses the database, user or password in DATABASE_URL', () => {
  it('says which, and what to create or correct', async () => {
    const { explainDbError } = await import('../server/context.js');
    const connect = (url: string) =>
      thrown(async () => {
        const c = new pg.Client({ connectionString: url });
        try {
          await c.connect();
        } finally {
          await c.end().catch(() => undefined);
        }
      });
    const explain = (e: unknown, url: string) => (explainDbError(e, { kind: 'postgres', url }, url) as Error).message;
    const noDb = PG_URL.replace(/\/[^/]*$/, '/no_such_db_here');
    expect(explain(await connect(noDb), noDb)).toMatch(/\(3D000: database "no_such_db_here" does not exist\); the server has no database of that name: create it \(CREATE DATABASE …/);
    const noRole = PG_URL.replace('//postgres@', '//no_such_role_here@');
    expect(explain(await connect(noRole), noRole)).toMatch(/\(28000: role "no_such_role_here" does not exist\); the server has no such user: create it \(CREATE ROLE … LOGIN PASSWORD …\)/);
    // This machine's server trusts local connections: the password refusal as the driver gives it.
    const badPassword = Object.assign(new pg.DatabaseError('password authentication failed for user "app"', 0, 'error'), { code: '28P01' });
    expect(explain(badPassword, 'postgres://app:x@db:5432/app')).toMatch(
      /\(28P01: password authentication failed for user "app"\); the server refused the password: correct it in DATABASE_URL \(percent-encode/,
    );
  });
});

describe('a database that takes no connection yet, at start', () => {
  it('PostgreSQL starting up (57P03) is waited for like an unreachable server, not a reason to exit', async () => {
    const { explainDbError } = await import('../server/context.js');
    const starting = Object.assign(new pg.DatabaseError('the database system is starting up', 0, 'error'), { code: '57P03' });
    const out = explainDbError(starting, { kind: 'postgres', url: 'postgres://db:5432/app' }, 'postgres://db:5432/app');
    expect(out).toBeInstanceOf(AppError);
    expect(out).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('(57P03: the database system is starting up); the server is there but takes no connection now') });
    // A refusal no wait helps (an undefined table) goes up as it is.
    const other = Object.assign(new pg.DatabaseError('relation "x" does not exist', 0, 'error'), { code: '42P01' });
    expect(explainDbError(other, { kind: 'postgres', url: 'postgres://db:5432/app' }, 'postgres://db:5432/app')).toBe(other);
  });
});
