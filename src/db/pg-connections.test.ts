import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { PG_URL, randomId } from '../../test/helpers/db.js';
import { openDb, type Db } from './db.js';

/** Run `n` queries at once, each holding its connection a moment; the server sessions they ran on. */
async function sessionsFor(db: Db, n: number): Promise<Set<number>> {
  const pids = await Promise.all(Array.from({ length: n }, () => sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.2)`.execute(db.kysely)));
  return new Set(pids.map((r) => r.rows[0]!.pid));
}

describe('PostgreSQL connections: DATABASE_POOL_MAX and their name', () => {
  const opened: Db[] = [];
  afterAll(async () => {
    for (const db of opened) {
      await sql`drop schema if exists ${sql.ref((db.location as { schema: string }).schema)} cascade`.execute(db.kysely);
      await db.close();
    }
  });
  const open = async (env: Record<string, string>) => {
    const config = loadConfig({ DATABASE_URL: PG_URL, MODELGATE_AUTH: 'off', ...env });
    if (config.database.kind !== 'postgres') throw new Error('expected PostgreSQL');
    const db = await openDb({ ...config.database, schema: randomId('pool') });
    opened.push(db);
    return db;
  };

  it('bounds the connections a process opens: six queries at once share two sessions, all answered', async () => {
    expect((await sessionsFor(await open({ DATABASE_POOL_MAX: '2' }), 6)).size).toBe(2);
  });

  it('10 unless set: six queries at once open six sessions', async () => {
    expect((await sessionsFor(await open({}), 6)).size).toBe(6);
  });

  it('its connections are named modelgate in pg_stat_activity, unless the URL names them', async () => {
    const name = async (db: Db) => (await sql<{ name: string }>`select application_name as name from pg_stat_activity where pid = pg_backend_pid()`.execute(db.kysely)).rows[0]?.name;
    expect(await name(await open({}))).toBe('modelgate');
    const named = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=scoring-eu`;
    const config = loadConfig({ DATABASE_URL: named, MODELGATE_AUTH: 'off' });
    if (config.database.kind !== 'postgres') throw new Error('expected PostgreSQL');
    const db = await openDb({ ...config.database, schema: randomId('pool') });
    opened.push(db);
    expect(await name(db)).toBe('scoring-eu');
  });

  it('refuses a value outside 1–200, saying what it expects', () => {
    for (const bad of ['0', '500', 'ten']) expect(() => loadConfig({ DATABASE_URL: PG_URL, MODELGATE_AUTH: 'off', DATABASE_POOL_MAX: bad }), bad).toThrow(/DATABASE_POOL_MAX="\w+": expected/);
  });
});
