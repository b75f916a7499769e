import type { Config } from '../../config.js';
import { createDirArtifactStore } from './fs.js';
import { createS3ArtifactStore } from './s3.js';
import type { ArtifactStore } from './store.js';

export type { ArtifactStore } from './store.js';
export { sha256 } from './store.js';
export { createDirArtifactStore } from './fs.js';
export { createS3ArtifactStore } from './s3.js';

export function createArtifactStore(config: Pick<Config, 'artifacts' | 'S3_ENDPOINT' | 'S3_REGION'>): ArtifactStore {
  const a = config.artifacts;
  if (a.kind === 'dir') return createDirArtifactStore(a.dir);
  return createS3ArtifactStore({ bucket: a.bucket, prefix: a.prefix, region: config.S3_REGION, endpoint: config.S3_ENDPOINT });
}
