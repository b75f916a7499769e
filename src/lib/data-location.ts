import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { removeIfInterrupted } from './interrupt-cleanup.js';
import { PRIVATE_FILE_MODE } from './private-files.js';
import { s3Refusal } from './s3-errors.js';
import { s3Sdk } from './s3-sdk.js';
import { assertInputFile, assertOutputFile } from './user-paths.js';
import { AppError, errorMessage } from './errors.js';

/** How to reach S3 (or an S3-compatible store) for s3:// data locations. */
export interface S3Access {
  region: string;
  endpoint?: string;
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{2,62})\/(.+)$/;

function parseS3(url: string, field?: string): { bucket: string; key: string } {
  const m = S3_URL.exec(url);
  if (!m) throw new AppError('BAD_REQUEST', `${field ? `${field}: ` : ''}${url}: expected s3://bucket/key`, field ? { field } : undefined);
  return { bucket: m[1], key: m[2] };
}

/** An s3:// location that names no bucket or no key is refused now, when it is stored to be read later (a retrain plan's data). */
export function checkS3Location(location: string, field: string): void {
  if (location.startsWith('s3://')) parseS3(location, field);
}

// Checksums only where S3 requires them: a streamed upload otherwise goes out aws-chunked with a
// trailing checksum, which several S3-compatible stores (s3rver, older MinIO and Ceph) store as data.
const clientOf = (s3: S3Access) => new (s3Sdk().S3Client)({ region: s3.region, requestChecksumCalculation: 'WHEN_REQUIRED', ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}) });

/** A local file or an s3://bucket/key object, as a stream (never read whole into memory). */
export async function openDataStream(location: string, s3: S3Access): Promise<Readable> {
  if (!location.startsWith('s3://')) {
    assertInputFile(location, 'give the path of a CSV file or s3://bucket/key');
    return createReadStream(location);
  }
  const { bucket, key } = parseS3(location);
  const client = clientOf(s3);
  try {
    const res = await client.send(new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: key }));
    const body = res.Body as Readable;
    body.once('close', () => client.destroy());
    return body;
  } catch (e) {
    client.destroy();
    throw new AppError('BAD_REQUEST', `cannot read ${location}: ${s3Refusal(e, { bucket, objects: key }, 'read') ?? errorMessage(e)}`);
  }
}

/**
 * Write text, waiting for 'drain' when the stream's buffer is full. A stream that already
 * failed (a full disk, met by a write between two calls) throws its error instead of waiting
 * for a 'drain' that never comes.
 */
export async function writeText(stream: Writable, text: string): Promise<void> {
  if (stream.errored) throw stream.errored;
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * A destination written under a temporary name and published whole: a local file is renamed
 * into place, an s3:// object is uploaded from the finished file in one PUT (S3 objects appear
 * atomically). Until publish() nothing is visible at the destination; discard() removes the
 * temporary file.
 */
export interface PendingOutput {
  stream: Writable;
  publish(): Promise<void>;
  discard(): Promise<void>;
}

export async function createPendingOutput(location: string, s3: S3Access, named: { flag: string; example: string }): Promise<PendingOutput> {
  const { flag, example } = named;
  const remote = location.startsWith('s3://') ? parseS3(location) : undefined;
  if (!remote) assertOutputFile(location, flag, example);
  const tmp = remote ? path.join(tmpdir(), `modelgate-${randomBytes(6).toString('hex')}.tmp`) : `${location}.${randomBytes(6).toString('hex')}.tmp`;
  if (!remote) await mkdir(path.dirname(path.resolve(location)), { recursive: true });
  // What is written here holds rows of data (scores with their ids, rejected rows, audited
  // features): not for other users of the host, as the database is not.
  const stream = createWriteStream(tmp, { mode: PRIVATE_FILE_MODE });
  const kept = removeIfInterrupted(tmp);
  const closed = new Promise<void>((resolve, reject) => {
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  // A write that fails between awaits (a full disk) is reported by publish(); unawaited until
  // then, its rejection would end the process as unhandled.
  closed.catch(() => undefined);
  const finish = async () => {
    if (!stream.writableFinished) stream.end();
    await closed;
  };
  return {
    stream,
    async publish() {
      await finish();
      if (!remote) {
        await rename(tmp, location);
        kept();
        return;
      }
      const client = clientOf(s3);
      try {
        const { size } = await stat(tmp);
        await client.send(new (s3Sdk().PutObjectCommand)({ Bucket: remote.bucket, Key: remote.key, Body: createReadStream(tmp), ContentLength: size }));
      } catch (e) {
        throw new AppError('UNAVAILABLE', `cannot write ${location}: ${s3Refusal(e, { bucket: remote.bucket, objects: remote.key }, 'write') ?? errorMessage(e)}`);
      } finally {
        client.destroy();
        await rm(tmp, { force: true });
        kept();
      }
    },
    async discard() {
      await finish().catch(() => undefined);
      await rm(tmp, { force: true });
      kept();
    },
  };
}
