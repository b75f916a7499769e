import { s3Sdk } from '../../lib/s3-sdk.js';
import { AppError, errorMessage } from '../../lib/errors.js';
import { assertSha, blobKey, sha256, verified, type ArtifactStore } from './store.js';

export interface S3StoreOptions {
  bucket: string;
  prefix: string;
  region: string;
  /** MinIO-style endpoint; path-style addressing is used with it. */
  endpoint?: string;
  /** Explicit credentials (tests); otherwise the SDK's default chain (env, profile, IAM role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createS3ArtifactStore(opts: S3StoreOptions): ArtifactStore {
  const { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, NoSuchKey } = s3Sdk();
  const client = new S3Client({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  const keyOf = (sha: string) => (opts.prefix ? `${opts.prefix}/` : '') + blobKey(sha);
  const where = (sha: string) => `s3://${opts.bucket}/${keyOf(sha)}`;
  const describe = `s3://${opts.bucket}${opts.prefix ? `/${opts.prefix}` : ''}`;
  // The SDK's own words ("Could not load credentials from any providers", "connect ECONNREFUSED …")
  // name neither the store nor what to check.
  const unreachable = (action: string, e: unknown) =>
    new AppError(
      'UNAVAILABLE',
      `cannot ${action} the artifact store ${describe}: ${errorMessage(e)}; check ARTIFACT_STORE, S3_ENDPOINT, S3_REGION and the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role)`,
    );
  return {
    describe,
    async put(bytes) {
      const sha = sha256(bytes);
      const Key = keyOf(sha);
      try {
        const exists = await client.send(new HeadObjectCommand({ Bucket: opts.bucket, Key })).then(
          () => true,
          (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
            if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return false;
            throw e;
          },
        );
        // S3 writes are atomic per object: readers see the old state or the whole new object.
        if (!exists) await client.send(new PutObjectCommand({ Bucket: opts.bucket, Key, Body: bytes }));
      } catch (e) {
        throw unreachable('write to', e);
      }
      return sha;
    },
    async get(sha) {
      assertSha(sha);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: keyOf(sha) }));
        const bytes = await res.Body!.transformToByteArray();
        return verified(sha, bytes, where(sha));
      } catch (e) {
        if (e instanceof NoSuchKey || (e as { name?: string }).name === 'NoSuchKey') {
          throw new AppError('ARTIFACT_CORRUPT', `artifact ${sha} is missing from ${where(sha)}`, { expected_sha256: sha, location: where(sha) });
        }
        throw e instanceof AppError ? e : unreachable('read from', e);
      }
    },
    async close() {
      client.destroy();
    },
  };
}
