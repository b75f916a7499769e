import { s3Sdk } from '../../lib/s3-sdk.js';
import { AppError, errorMessage } from '../../lib/errors.js';
import { isS3AccessDenied, s3Refusal } from '../../lib/s3-errors.js';
import { tlsProblem, type TlsProblem } from '../../lib/tls-errors.js';
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

/** What to do next, by what refused the connection. */
const TLS_ADVICE: Record<TlsProblem | 'none', string> = {
  untrusted: "S3_ENDPOINT's TLS certificate is not signed by a CA this process trusts: start it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, the CA that signed it",
  'host-name': "S3_ENDPOINT's TLS certificate was issued for another host name: give S3_ENDPOINT a name it was issued for",
  dates: "S3_ENDPOINT's TLS certificate has expired or is not valid yet: renew it (or check this machine's clock)",
  protocol: 'the TLS handshake with S3_ENDPOINT failed: check its scheme (http:// or https://) and port',
  none: 'check ARTIFACT_STORE, S3_ENDPOINT, S3_REGION and the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or a role)',
};

export function createS3ArtifactStore(opts: S3StoreOptions): ArtifactStore {
  const { GetObjectCommand, PutObjectCommand, S3Client, NoSuchKey } = s3Sdk();
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
  const advice = (e: unknown) =>
    opts.endpoint?.startsWith('http:') && (e as { code?: unknown }).code === 'ECONNRESET'
      ? 'S3_ENDPOINT closed the connection: if it takes only TLS connections, use https://'
      : TLS_ADVICE[tlsProblem(e) ?? 'none'];
  const objects = { bucket: opts.bucket, objects: opts.prefix ? `${opts.prefix}/*` : '*' };
  const unreachable = (action: 'read from' | 'write to', e: unknown) => {
    const refused = s3Refusal(e, objects, action === 'read from' ? 'read' : 'write');
    // Storing reads the object back first (a stored copy that no longer hashes to its key is rewritten).
    const reads = action === 'write to' && isS3AccessDenied(e) ? ' and s3:GetObject, which storing and serving read with' : '';
    return new AppError('UNAVAILABLE', `cannot ${action} the artifact store ${describe}: ${refused ? refused + reads : `${errorMessage(e)}; ${advice(e)}`}`);
  };
  return {
    describe,
    async put(bytes) {
      const sha = sha256(bytes);
      const Key = keyOf(sha);
      try {
        // Read back, not only HEAD: a stored object that no longer hashes to its key is rewritten.
        const stored = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key })).then(
          async (res) => sha256(await res.Body!.transformToByteArray()),
          (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
            if (e instanceof NoSuchKey || e.name === 'NoSuchKey' || e.name === 'NotFound' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket')) return undefined;
            // An identity that may not list the bucket gets Access Denied for a missing object
            // too, so this may be one not stored yet: the write's own answer says whether it may.
            if (isS3AccessDenied(e)) return undefined;
            throw e;
          },
        );
        if (stored === sha) return { sha256: sha, repaired: false };
        // S3 writes are atomic per object: readers see the old state or the whole new object.
        await client.send(new PutObjectCommand({ Bucket: opts.bucket, Key, Body: bytes }));
        return { sha256: sha, repaired: stored !== undefined };
      } catch (e) {
        throw unreachable('write to', e);
      }
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
