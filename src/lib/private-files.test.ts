import { statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { migrate, openDb } from '../db/index.js';
import { checkDataDir } from '../server/context.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.js';
import { createBackup } from '../backup/index.js';
import { createDirArtifactStore } from '../registry/index.js';
import { createPendingOutput } from './data-location.js';

const mode = (p: string) => statSync(p).mode & 0o777;
// Under the usual umask (022), which would leave files readable by others: whatever the
// machine's own (a 027 would hide the difference). Test files run in processes of their own.
const UMASK = 0o022;
const masked = (m: number) => m & ~UMASK;

describe('files modelgate creates for its data', () => {
  let saved: number;
  beforeAll(() => {
    saved = process.umask(UMASK);
  });
  afterAll(() => {
    process.umask(saved);
  });

  it('a new SQLite database and its WAL are not readable by other users, nor is a new data directory', async () => {
    const root = tempDir('modelgate-modes-');
    const dataDir = path.join(root, 'data', 'nested');
    checkDataDir(dataDir);
    expect(mode(dataDir)).toBe(masked(PRIVATE_DIR_MODE));
    expect(mode(path.join(root, 'data'))).toBe(masked(PRIVATE_DIR_MODE));
    const file = path.join(root, 'db', 'modelgate.db');
    const db = await openDb({ kind: 'sqlite', file });
    try {
      await migrate(db);
      expect(mode(path.dirname(file))).toBe(masked(PRIVATE_DIR_MODE));
      expect(mode(file)).toBe(masked(PRIVATE_FILE_MODE));
      // SQLite makes the WAL and its index with the database file's mode.
      expect(mode(`${file}-wal`)).toBe(masked(PRIVATE_FILE_MODE));
      expect(mode(`${file}-shm`)).toBe(masked(PRIVATE_FILE_MODE));
      expect(masked(PRIVATE_FILE_MODE) & 0o007).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('a backup (webhook secrets, key hashes) and what score and predictions export write (rows of data) are not readable by other users', async () => {
    const root = tempDir('modelgate-modes-');
    const db = await openDb({ kind: 'sqlite', file: path.join(root, 'modelgate.db') });
    try {
      await migrate(db);
      const { file } = await createBackup(db, createDirArtifactStore(path.join(root, 'artifacts')), { out: path.join(root, 'backup.tar'), version: 'test' });
      expect(mode(file)).toBe(masked(PRIVATE_FILE_MODE));
    } finally {
      await db.close();
    }
    const out = path.join(root, 'export.csv');
    const pending = await createPendingOutput(out, { region: 'us-east-1' }, { flag: '--out', example: 'x.csv' });
    pending.stream.write('id,score\n');
    await pending.publish();
    expect(mode(out)).toBe(masked(PRIVATE_FILE_MODE));
  });

  it('an existing database keeps the mode its operator gave it', async () => {
    const file = path.join(tempDir('modelgate-modes-'), 'shared.db');
    writeFileSync(file, '');
    chmodSync(file, 0o664);
    const db = await openDb({ kind: 'sqlite', file });
    try {
      await migrate(db);
      expect(mode(file)).toBe(0o664);
    } finally {
      await db.close();
    }
  });
});
