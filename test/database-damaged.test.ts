import SQLite from 'better-sqlite3';
import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { FIXTURES } from './helpers/fixtures.js';

// "error: database disk image is malformed" was all a damaged SQLite file got (and a 500 from a
// server); the way out was nowhere in it.
describe('a damaged SQLite database', () => {
  it('says so, with what to do, and doing what it says brings the registry back', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const file = path.join(dir, 'modelgate.db');
    const registered = await runCli(['register', '--model', 'churn', '--onnx', path.join(FIXTURES, 'telco_churn.onnx'), '--missing-category', 'missing', '--promote'], env, { timeoutMs: 120_000 });
    expect(registered.code, registered.stderr).toBe(0);
    const backup = path.join(tempDir(), 'modelgate-backup.tar');
    expect((await runCli(['backup', '--out', backup], env, { timeoutMs: 120_000 })).code).toBe(0);

    // Every page after the first (the schema's root) overwritten, the WAL folded in first.
    const db = new SQLite(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    db.close();
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(statSync(file).size - pageSize, 0xa5), 0, undefined, pageSize);
    closeSync(fd);

    const damaged = await runCli(['models'], env, { timeoutMs: 60_000 });
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain(
      `error: ${file} is damaged (SQLITE_CORRUPT: database disk image is malformed): stop every server and command using it, move it aside with its -wal and -shm files (mv ${file} ${file}.damaged), then restore the latest backup into a new one (modelgate restore BACKUP)`,
    );

    renameSync(file, `${file}.damaged`);
    for (const side of ['-wal', '-shm']) rmSync(`${file}${side}`, { force: true });
    const restored = await runCli(['restore', backup], env, { timeoutMs: 120_000 });
    expect(restored.code, restored.stderr).toBe(0);
    const models = await runCli(['models', '--json'], env, { timeoutMs: 60_000 });
    expect(models.code, models.stderr).toBe(0);
    expect(models.json().models.map((m: { name: string; aliases: Record<string, number> }) => [m.name, m.aliases.production])).toEqual([['churn', 1]]);
  });

  it('a file that is not a SQLite database is named as such', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'notes.db');
    const fd = openSync(file, 'w');
    writeSync(fd, 'not a database, but a long enough line of text to fill a header of one hundred bytes or more, really');
    closeSync(fd);
    const r = await runCli(['models'], { MODELGATE_DATA_DIR: dir, DATABASE_URL: `sqlite:${file}` }, { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${file} is not a SQLite database (SQLITE_NOTADB: file is not a database): DATABASE_URL or MODELGATE_DATA_DIR names another kind of file`);
  });
});
