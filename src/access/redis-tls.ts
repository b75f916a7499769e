import { readFileSync } from 'node:fs';
import { AppError } from '../lib/errors.js';

/** REDIS_TLS_*_FILE, as paths: read when a client is made. */
export interface RedisTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** What node:tls takes for those files: a CA to trust instead of the default ones, and a client certificate. */
export interface RedisTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The files' contents, read when a client is made: a renewed certificate takes effect at the next start. */
export function readRedisTls(files: RedisTlsFiles | undefined): RedisTlsOptions {
  if (!files) return {};
  const read = (variable: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new AppError('UNAVAILABLE', `${variable}=${JSON.stringify(file)}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}); mount the PEM file there or fix the path`);
    }
  };
  return {
    ...(files.caFile ? { ca: read('REDIS_TLS_CA_FILE', files.caFile) } : {}),
    ...(files.certFile ? { cert: read('REDIS_TLS_CERT_FILE', files.certFile) } : {}),
    ...(files.keyFile ? { key: read('REDIS_TLS_KEY_FILE', files.keyFile) } : {}),
  };
}
