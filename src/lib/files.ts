import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isNoSpace, noSpaceError } from './disk-space.js';
import { AppError } from './errors.js';
import { unwritableOwner } from './file-owner.js';
import { removeIfInterrupted } from './interrupt-cleanup.js';

/**
 * Write to a temporary name beside the target, then rename: readers never see half a file. A
 * full disk is said as such, naming the directory (or named.dir) and what was not written
 * (named.what, default the file); the partial temporary file is removed.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, named: { dir?: string; what?: string } = {}): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
  } catch (e) {
    throw notWritableError(e, named.dir ?? path.dirname(file), file, `${named.what ?? file} was not written`) ?? e;
  }
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const kept = removeIfInterrupted(tmp);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    const where = named.dir ?? path.dirname(file);
    const after = `${named.what ?? file} was not written`;
    throw isNoSpace(e) ? noSpaceError(e, where, after) : (notWritableError(e, where, file, after) ?? e);
  } finally {
    kept();
  }
}

/**
 * A write the file system refused for permission (EACCES, EPERM) or a read-only mount (EROFS):
 * most often a directory a command run as another user made (sudo, a container's root). Says
 * which directory on the way belongs to whom, and what to do. Undefined for any other error.
 */
function notWritableError(e: unknown, dir: string, file: string, after: string): AppError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return undefined;
  const said = `${code}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}`;
  if (code === 'EROFS')
    return new AppError('UNAVAILABLE', `${dir} is on a read-only file system (${said}): mount a writable volume there or choose another directory; ${after}`, { code, directory: dir });
  const uid = process.getuid?.();
  // The deepest directory on the way that exists and this user may not write: the one to fix.
  let blocked: { dir: string; uid: number; mode: string } | undefined;
  for (let d = path.dirname(file); ; d = path.dirname(d)) {
    const owner = unwritableOwner(d);
    if (owner?.exists === false && path.dirname(d) !== d) continue;
    if (owner?.exists) blocked = { dir: d, uid: owner.uid, mode: owner.mode };
    break;
  }
  const whose = blocked ? `; ${blocked.dir} belongs to uid ${blocked.uid} (mode ${blocked.mode}), made by a command run as another user (sudo, or a container's root)?` : '';
  return new AppError(
    'UNAVAILABLE',
    `cannot write in ${dir} as uid ${uid ?? '?'} (${said}${whose}): give it to the user that writes there (chown -R ${uid ?? 'USER'} ${blocked?.dir ?? dir}) or choose a directory it may write; ${after}`,
    { code, directory: dir },
  );
}

/** A file's sha256 (hex) and size, read as a stream. */
export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
