import { statfsSync, type StatsFs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError, errorMessage } from './errors.js';
import { byteSize } from './byte-size.js';

export interface DiskUsage {
  freeBytes: number;
  sizeBytes: number;
}

/** A directory and the space on its file system, read when called (for /health and /metrics). */
export type DataDiskProbe = () => { dir: string; usage?: DiskUsage };

/** statfs of dir, or of its nearest existing parent (same device, or its mount point's) when dir is not made yet. */
function statfsNearest(dir: string): StatsFs | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      return statfsSync(d);
    } catch {
      if (path.dirname(d) === d) return undefined;
    }
  }
}

/** The file system holding dir: its size and the bytes an unprivileged process may still write (undefined if it cannot be asked). */
export function diskUsage(dir: string): DiskUsage | undefined {
  const s = statfsNearest(dir);
  return s && { freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
}

export const freeBytes = (dir: string): number | undefined => diskUsage(dir)?.freeBytes;

/** The errno codes of a write refused for want of space (a full disk, or a user's quota used up). */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** SQLite cannot grow its file or write its journal or WAL in so little (it writes pages of 4 KiB and a 32 KiB index): a disk with less is full. */
export const FULL_BELOW_BYTES = 1024 * 1024;

/** Of the directories these outputs are written in (an s3:// one is staged in TMPDIR), the one with the least space left. */
export function fullestDir(outputs: string[]): string {
  const dirs = [...new Set(outputs.map((o) => (o.startsWith('s3://') ? tmpdir() : path.dirname(path.resolve(o)))))];
  return dirs.map((dir) => ({ dir, free: freeBytes(dir) ?? Infinity })).sort((a, b) => a.free - b.free)[0].dir;
}

export const isNoSpace = (e: unknown): boolean => NO_SPACE_CODES.has(String((e as { code?: unknown } | undefined)?.code));

/** "no space left on the device holding DIR (ENOSPC, 0 B free): …": what ran out, where, and what to do. */
export function noSpaceError(e: unknown, dir: string, after: string): AppError {
  const code = String((e as { code?: unknown }).code);
  const free = freeBytes(dir);
  return new AppError(
    'UNAVAILABLE',
    `no space left on the device holding ${dir} (${code === 'EDQUOT' ? 'EDQUOT: disk quota exceeded' : code}${free === undefined ? '' : `, ${byteSize(free)} free`}): free space there or give it a larger volume, then retry; ${after}`,
    { code, directory: dir, ...(free === undefined ? {} : { free_bytes: free }) },
  );
}

/**
 * A SQLite error that comes from a full disk: SQLITE_FULL, or an I/O error (SQLite says only
 * "disk I/O error" when it cannot even create its WAL or shared-memory file) while the file
 * system holding the database has less than SQLite needs. Undefined for any other error.
 */
export function sqliteDiskFull(e: unknown, file: string, after = 'the change was not made'): AppError | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const dir = path.dirname(file);
  const free = freeBytes(dir);
  const full = code === 'SQLITE_FULL' || (code.startsWith('SQLITE_IOERR') && free !== undefined && free < FULL_BELOW_BYTES);
  if (!full) return undefined;
  return new AppError(
    'UNAVAILABLE',
    `the disk holding the SQLite database ${file} is full (${code}: ${errorMessage(e)}${free === undefined ? '' : `; ${byteSize(free)} free`}): free space on it or move MODELGATE_DATA_DIR to a larger volume, then retry; ${after}`,
    { code, directory: dir, ...(free === undefined ? {} : { free_bytes: free }) },
  );
}

/**
 * File systems on which SQLite's locks and its WAL's shared memory are not reliable (SQLite's
 * own advice: do not use WAL over a network file system), by statfs magic number
 * (linux/magic.h). An EFS or Filestore volume mounts as nfs.
 */
const NETWORK_FILE_SYSTEMS = new Map<number, string>([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xfe534d42, 'smb2'],
  [0xff534d42, 'cifs'],
  [0x00c36400, 'ceph'],
  [0x47504653, 'gpfs'],
  [0x0bd00bd0, 'lustre'],
]);

/** The name of a network file system by its statfs type, or undefined for any other. */
export const networkFileSystemName = (type: number): string | undefined => NETWORK_FILE_SYSTEMS.get(type >>> 0);

/** The network file system dir is on (nfs, cifs, …), or undefined for a local one or when it cannot be asked. */
export function networkFileSystem(dir: string): string | undefined {
  const s = statfsNearest(dir);
  return s && networkFileSystemName(Number(s.type));
}
