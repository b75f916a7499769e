import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isNoSpace, noSpaceError } from './disk-space.js';
import { removeIfInterrupted } from './interrupt-cleanup.js';

/**
 * Write to a temporary name beside the target, then rename: readers never see half a file. A
 * full disk is said as such, naming the directory (or named.dir) and what was not written
 * (named.what, default the file); the partial temporary file is removed.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, named: { dir?: string; what?: string } = {}): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const kept = removeIfInterrupted(tmp);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw isNoSpace(e) ? noSpaceError(e, named.dir ?? path.dirname(file), `${named.what ?? file} was not written`) : e;
  } finally {
    kept();
  }
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
