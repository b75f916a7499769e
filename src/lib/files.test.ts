import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { writeFileAtomic } from './files.js';

/**
 * A directory this process may not write in: mode 555, and for root (which mode bits do not
 * stop) the immutable attribute as well, which stops root too.
 */
function unwritableDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o555);
  const probe = path.join(dir, '.probe');
  try {
    writeFileSync(probe, '');
  } catch {
    return () => chmodSync(dir, 0o755);
  }
  execFileSync('rm', ['-f', probe]);
  execFileSync('chattr', ['+i', dir]);
  return () => {
    execFileSync('chattr', ['-i', dir]);
    chmodSync(dir, 0o755);
  };
}

// A directory a command run as another user made (sudo, a container's root) refused writes with
// the bare "EACCES: permission denied, mkdir '…/sha256'".
describe('writeFileAtomic into a directory it may not write', () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
  });

  it('says which directory, whose it is, and what to do; nothing is left behind', async () => {
    const root = tempDir();
    const store = path.join(root, 'artifacts');
    restore = unwritableDir(store);
    const file = path.join(store, 'sha256', 'ab', 'abcd');
    const e = await writeFileAtomic(file, 'x', { dir: store, what: 'artifact abcd' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(
        new RegExp(
          `^cannot write in ${store} as uid \\d+ \\((EACCES|EPERM): [^;]*; ${store} belongs to uid \\d+ \\(mode 555\\), made by a command run as another user \\(sudo, or a container's root\\)\\?\\): give it to the user that writes there \\(chown -R \\d+ ${store}\\) or choose a directory it may write; artifact abcd was not written$`,
        ),
      ),
    });
    restore();
    restore = undefined;
    expect(readdirSync(store)).toEqual([]);
    // With the directory given back, the same write lands.
    await writeFileAtomic(file, 'x', { dir: store, what: 'artifact abcd' });
    expect(existsSync(file)).toBe(true);
  });
});
