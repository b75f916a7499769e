import SQLite from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PG_URL, freshDb } from '../../test/helpers/db.js';
import { AppError } from '../lib/errors.js';
import { databaseUnavailable } from './unavailable.js';

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

    expect(databaseUnavailable(locked)).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/^the database is unavailable \(SQLITE_BUSY: database is locked\); retry shortly/) });
    expect(databaseUnavailable(refused)).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('ECONNREFUSED') });
    expect(databaseUnavailable(new Error('Connection terminated unexpectedly'))).toMatchObject({ code: 'UNAVAILABLE' });
    for (const e of [duplicate, syntax, new Error('something else'), new AppError('NOT_FOUND', 'no such model'), 'a string']) expect(databaseUnavailable(e)).toBeUndefined();
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
