import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/files.js';
import { assertSha, blobKey, sha256, verified, type ArtifactStore } from './store.js';

export function createDirArtifactStore(dir: string): ArtifactStore {
  const fileOf = (sha: string) => path.join(dir, blobKey(sha));
  return {
    describe: dir,
    async put(bytes) {
      const sha = sha256(bytes);
      const file = fileOf(sha);
      const stored = await readFile(file).then(
        (b) => sha256(b),
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return undefined;
          throw e;
        },
      );
      if (stored === sha) return { sha256: sha, repaired: false };
      await writeFileAtomic(file, bytes, { dir, what: `artifact ${sha}` });
      return { sha256: sha, repaired: stored !== undefined };
    },
    async get(sha) {
      assertSha(sha);
      const file = fileOf(sha);
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new AppError('ARTIFACT_CORRUPT', `artifact ${sha} is missing from ${dir}`, { expected_sha256: sha, location: file });
        }
        throw e;
      }
      return verified(sha, bytes, file);
    },
    async close() {},
  };
}
