import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/helpers/db.js';
import { s3PolicyProxy } from '../../../test/helpers/s3-policy-proxy.js';
import { AppError } from '../../lib/errors.js';
import { createDirArtifactStore } from './fs.js';
import { createS3ArtifactStore } from './s3.js';
import { blobKey, type ArtifactStore } from './store.js';

/** A real S3-compatible server on loopback (s3rver), not a mock. */
let s3: InstanceType<typeof S3rver>;
let s3Dir: string;
let endpoint: string;

beforeAll(async () => {
  s3Dir = tempDir('s3rver-');
  s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3Dir, silent: true, configureBuckets: [{ name: 'models', configs: [] }] });
  const addr = (await s3.run()) as { address: string; port: number };
  endpoint = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  await s3?.close();
});

const stores: [string, () => { store: ArtifactStore; corrupt: (sha: string) => Promise<void> }][] = [
  [
    'directory',
    () => {
      const dir = tempDir();
      return {
        store: createDirArtifactStore(dir),
        corrupt: async (sha) => {
          const file = path.join(dir, blobKey(sha));
          const bytes = await readFile(file);
          bytes[10] ^= 0xff;
          await writeFile(file, bytes);
        },
      };
    },
  ],
  [
    's3',
    () => {
      const store = createS3ArtifactStore({
        bucket: 'models',
        prefix: 'team/prod',
        region: 'us-east-1',
        endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      return {
        store,
        corrupt: async (sha) => {
          // Overwrite the object through the S3 API with different bytes under the same key.
          const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
          const c = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
          await c.send(new PutObjectCommand({ Bucket: 'models', Key: `team/prod/${blobKey(sha)}`, Body: Buffer.from('tampered') }));
          c.destroy();
        },
      };
    },
  ],
];

describe.each(stores)('%s artifact store', (_name, make) => {
  it('stores by sha256 and returns the same bytes', async () => {
    const { store } = make();
    const bytes = Buffer.from(`model bytes ${Math.random()}`);
    const { sha256: sha, repaired } = await store.put(bytes);
    expect(sha).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(repaired).toBe(false);
    expect(Buffer.from(await store.get(sha)).equals(bytes)).toBe(true);
    expect(await store.put(bytes)).toEqual({ sha256: sha, repaired: false });
    await store.close();
  });

  it('refuses content that no longer matches its hash, and a missing blob; storing the same bytes again mends it', async () => {
    const { store, corrupt } = make();
    const bytes = Buffer.from(`payload ${Math.random()} with enough bytes to flip one`);
    const { sha256: sha } = await store.put(bytes);
    await corrupt(sha);
    const err = await store.get(sha).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ARTIFACT_CORRUPT');
    expect((err as AppError).message).toContain(sha);
    const missing = 'a'.repeat(64);
    expect(((await store.get(missing).catch((e: unknown) => e)) as AppError).code).toBe('ARTIFACT_CORRUPT');
    // Before: put saw the blob there and kept the damaged copy, so "register the model again" mended nothing.
    expect(await store.put(bytes)).toEqual({ sha256: sha, repaired: true });
    expect(Buffer.from(await store.get(sha)).equals(bytes)).toBe(true);
    expect(await store.put(bytes)).toEqual({ sha256: sha, repaired: false });
    await store.close();
  });
});

describe('s3 artifact store out of reach', () => {
  it("says which store, what failed and what to check, instead of the SDK's words alone", async () => {
    // Port 1 on loopback: nothing listens there.
    const store = createS3ArtifactStore({ bucket: 'models', prefix: 'p', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const bytes = Buffer.from('model');
    const written = await store.put(bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(written).toBeInstanceOf(AppError);
    expect((written as AppError).code).toBe('UNAVAILABLE');
    expect((written as AppError).message).toMatch(/^cannot write to the artifact store s3:\/\/models\/p: .*ECONNREFUSED.*; check ARTIFACT_STORE, S3_ENDPOINT, S3_REGION and the AWS credentials/);
    const read = await store.get(createHash('sha256').update(bytes).digest('hex')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((read as AppError).message).toMatch(/^cannot read from the artifact store s3:\/\/models\/p: /);
    await store.close();
  });
});

describe('s3 artifact store and what S3 refuses (IAM answers as AWS gives them, through a proxy in front of s3rver)', () => {
  const bytes = () => Buffer.from(`model ${Math.random()}`);
  const shaOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const storeAt = (at: string, bucket = 'models') =>
    createS3ArtifactStore({ bucket, prefix: 'team/prod', region: 'us-east-1', endpoint: at, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as AppError,
    );

  it('without s3:ListBucket (a missing object is Access Denied, not 404): stores and reads back; a missing one names both causes and the grants', async () => {
    const proxy = await s3PolicyProxy(endpoint, { noList: true });
    const store = storeAt(proxy.endpoint);
    try {
      const b = bytes();
      expect(await store.put(b)).toEqual({ sha256: shaOf(b), repaired: false });
      expect(Buffer.from(await store.get(shaOf(b))).equals(b)).toBe(true);
      const missing = await failure(store.get(shaOf(bytes())));
      expect([missing?.code, missing?.message]).toEqual([
        'UNAVAILABLE',
        expect.stringMatching(
          /^cannot read from the artifact store s3:\/\/models\/team\/prod: S3 refused to let this identity read \(Access Denied\): grant it s3:GetObject on arn:aws:s3:::models\/team\/prod\/\*; without s3:ListBucket on arn:aws:s3:::models, S3 also answers Access Denied for an object that does not exist$/,
        ),
      ]);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('without s3:PutObject: the write names the permissions to grant; a bucket that does not exist is named', async () => {
    const proxy = await s3PolicyProxy(endpoint, { noPut: true });
    const store = storeAt(proxy.endpoint);
    const nowhere = storeAt(endpoint, 'no-such-bucket');
    try {
      const refused = await failure(store.put(bytes()));
      expect(refused?.message).toMatch(
        /^cannot write to the artifact store s3:\/\/models\/team\/prod: S3 refused to let this identity write \(Access Denied\): grant it s3:PutObject on arn:aws:s3:::models\/team\/prod\/\* and s3:GetObject/,
      );
      // Where AWS says more (which identity, or a KMS key's refusal), its words are kept.
      const kmsWords = 'User: arn:aws:sts::123456789012:assumed-role/modelgate/i-0 is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:123456789012:key/1';
      const kms = await s3PolicyProxy(endpoint, { noPut: true, message: kmsWords });
      const viaKms = storeAt(kms.endpoint);
      expect((await failure(viaKms.put(bytes())))?.message).toContain(`S3 refused to let this identity write (${kmsWords}): grant it s3:PutObject`);
      await viaKms.close();
      await kms.close();
      for (const p of [nowhere.put(bytes()), nowhere.get(shaOf(bytes()))]) {
        expect((await failure(p))?.message).toMatch(
          /^cannot (write to|read from) the artifact store s3:\/\/no-such-bucket\/team\/prod: the bucket no-such-bucket does not exist there: create it, or correct/,
        );
      }
    } finally {
      await Promise.all([store.close(), nowhere.close()]);
      await proxy.close();
    }
  });
});
