import { createHash } from 'node:crypto';
import { AppError } from '../../lib/errors.js';

/**
 * Content-addressed blob store. Blobs are named by their sha256; every read re-hashes what
 * came back and refuses a mismatch, so a corrupted or tampered file can never be served.
 * Failure policy: errors propagate; nothing is cached here.
 */
export interface ArtifactStore {
  readonly describe: string;
  /**
   * Store bytes (idempotent) and return their sha256. A blob already stored under that sha256 is
   * hashed again, and rewritten from these bytes when it no longer matches (`repaired`): so
   * registering or restoring the same file mends a corrupted copy instead of keeping it.
   */
  put(bytes: Uint8Array): Promise<Stored>;
  /** Bytes for a sha256, verified; ARTIFACT_CORRUPT on mismatch, NOT_FOUND if absent. */
  get(sha256: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface Stored {
  sha256: string;
  /** The blob was stored already but corrupt (or unreadable as itself), and is now rewritten. */
  repaired: boolean;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function assertSha(sha: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new AppError('BAD_REQUEST', `not a sha256 digest: ${sha}`);
}

/** Relative key of a blob: sha256/ab/abcdef… (fan-out keeps directories small). */
export function blobKey(sha: string): string {
  return `sha256/${sha.slice(0, 2)}/${sha}`;
}

export function verified(sha: string, bytes: Uint8Array, where: string): Uint8Array {
  const actual = sha256(bytes);
  if (actual !== sha) {
    throw new AppError(
      'ARTIFACT_CORRUPT',
      `artifact ${sha} at ${where} is corrupt: its content hashes to ${actual}. Register the same ONNX file again (that rewrites the stored copy) or restore it from a backup`,
      {
        expected_sha256: sha,
        actual_sha256: actual,
        location: where,
      },
    );
  }
  return bytes;
}
