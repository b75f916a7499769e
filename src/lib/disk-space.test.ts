import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { databaseUnavailable } from '../db/unavailable.js';
import { freeBytes, fullestDir, isNoSpace, networkFileSystem, networkFileSystemName, noSpaceError, sqliteDiskFull } from './disk-space.js';

/** SQLite's own SQLITE_FULL: a page limit fails a write exactly as a full disk does. */
function sqliteFull(file: string): unknown {
  const db = new SQLite(file);
  try {
    db.exec('create table t (b blob)');
    db.pragma('max_page_count = 3');
    for (let i = 0; i < 20; i++) db.prepare('insert into t (b) values (?)').run(Buffer.alloc(4000));
  } catch (e) {
    return e;
  } finally {
    db.close();
  }
  throw new Error('expected SQLITE_FULL');
}

describe('disk space', () => {
  it('reads the free space the file system reports, from the nearest existing directory', () => {
    const dir = tempDir();
    // stat -f: available blocks and their size, as df reads them.
    const [blocks, size] = execFileSync('stat', ['-f', '-c', '%a %S', dir], { encoding: 'utf8' }).trim().split(' ').map(Number);
    const free = freeBytes(dir)!;
    // Other tests write meanwhile: within 64 MiB of what stat saw.
    expect(Math.abs(free - blocks * size)).toBeLessThan(64 * 1024 * 1024);
    expect(Math.abs(freeBytes(path.join(dir, 'not', 'made', 'yet'))! - free)).toBeLessThan(64 * 1024 * 1024);
  });

  it("names SQLite's full disk with the database and what to do; other SQLite errors are not", () => {
    const dir = tempDir();
    const file = path.join(dir, 'modelgate.db');
    const full = sqliteFull(file);
    expect(full).toMatchObject({ code: 'SQLITE_FULL' });
    const e = sqliteDiskFull(full, file);
    expect(e).toMatchObject({ code: 'UNAVAILABLE', status: 503, details: { code: 'SQLITE_FULL', directory: dir } });
    expect(e!.message).toMatch(
      new RegExp(
        `^the disk holding the SQLite database ${file} is full \\(SQLITE_FULL: database or disk is full; [0-9.]+ [KMG]?i?B free\\): free space on it or move MODELGATE_DATA_DIR to a larger volume, then retry; the change was not made$`,
      ),
    );
    // The request path names it too, where the server knows its file.
    expect(databaseUnavailable(full, file)?.message).toBe(e!.message);
    // An I/O error with room to spare is not a full disk.
    const ioerr = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_SHMSIZE' });
    expect(sqliteDiskFull(ioerr, file)).toBeUndefined();
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(sqliteDiskFull(busy, file)).toBeUndefined();
    expect(sqliteDiskFull(new Error('no code'), file)).toBeUndefined();
  });

  it("names PostgreSQL's disk_full (53100) as the server's disk", () => {
    const e = Object.assign(new Error('could not extend file "base/16384/16385": No space left on device'), { code: '53100' });
    expect(databaseUnavailable(e)).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/^the PostgreSQL server's disk is full \(53100: could not extend file .*\): free space on its data volume, then retry/),
    });
  });

  it('an ENOSPC or EDQUOT write names the directory, its free space and what was not written', () => {
    const dir = tempDir();
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
    const quota = Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
    expect([isNoSpace(enospc), isNoSpace(quota), isNoSpace(new Error('EIO')), isNoSpace(undefined)]).toEqual([true, true, false, false]);
    const e = noSpaceError(enospc, dir, 'report.json was not written');
    expect(e.message).toMatch(
      new RegExp(`^no space left on the device holding ${dir} \\(ENOSPC, [0-9.]+ [KMG]?i?B free\\): free space there or give it a larger volume, then retry; report.json was not written$`),
    );
    expect(noSpaceError(quota, dir, 'x').message).toContain('(EDQUOT: disk quota exceeded, ');
    expect(fullestDir([path.join(dir, 'a.csv'), path.join(dir, 'b.csv')])).toBe(dir);
  });

  it("names the network file systems SQLite must not be on, by the kernel's own numbers, and not a local one", () => {
    // linux/magic.h (Debian's linux-libc-dev), not this module's table.
    const header = readFileSync('/usr/include/linux/magic.h', 'utf8');
    const magic = (name: string) => Number(new RegExp(`#define\\s+${name}\\s+(0x[0-9a-fA-F]+)`).exec(header)![1]);
    expect([magic('NFS_SUPER_MAGIC'), magic('SMB_SUPER_MAGIC'), magic('CIFS_SUPER_MAGIC'), magic('SMB2_SUPER_MAGIC'), magic('CEPH_SUPER_MAGIC')].map(networkFileSystemName)).toEqual([
      'nfs',
      'smb',
      'cifs',
      'smb2',
      'ceph',
    ]);
    for (const local of ['EXT4_SUPER_MAGIC', 'TMPFS_MAGIC', 'BTRFS_SUPER_MAGIC', 'OVERLAYFS_SUPER_MAGIC', 'XFS_SUPER_MAGIC']) expect(networkFileSystemName(magic(local))).toBeUndefined();
    expect(networkFileSystem(tempDir())).toBeUndefined();
  });
});
