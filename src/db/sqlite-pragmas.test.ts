import { statSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { freshDb } from '../../test/helpers/db.js';
import { openDb } from './index.js';
import { WAL_SIZE_LIMIT_BYTES } from './sqlite-pragmas.js';

describe('the SQLite WAL file', () => {
  it('is cut back once a long reader that let it grow is gone', async () => {
    const loc = freshDb('sqlite');
    if (loc.kind !== 'sqlite') throw new Error('sqlite expected');
    const db = await openDb(loc);
    const wal = `${loc.file}-wal`;
    try {
      await sql`create table b (x blob)`.execute(db.kysely);
      // A reader holding its snapshot (a backup), while writes go on: no checkpoint can empty the WAL.
      const reader = new SQLite(loc.file);
      reader.exec('begin');
      reader.prepare('select count(*) from b').get();
      const mib = 1024 * 1024;
      const writes = Math.ceil((WAL_SIZE_LIMIT_BYTES * 1.5) / mib);
      for (let i = 0; i < writes; i++) await sql`insert into b (x) values (zeroblob(${mib}))`.execute(db.kysely);
      expect(statSync(wal).size).toBeGreaterThan(WAL_SIZE_LIMIT_BYTES);
      reader.exec('commit');
      reader.close();
      // The next checkpoint empties it and the next write starts it over, cut to the limit.
      await sql`pragma wal_checkpoint(passive)`.execute(db.kysely);
      await sql`insert into b (x) values (zeroblob(10))`.execute(db.kysely);
      await sql`pragma wal_checkpoint(passive)`.execute(db.kysely);
      expect(statSync(wal).size).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
    } finally {
      await db.close();
    }
  });
});
