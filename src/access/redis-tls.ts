import { readFileSync } from 'node:fs';
import { AppError } from '../lib/errors.js';
import { readOnEachUse } from '../lib/read-on-each-use.js';

/** REDIS_TLS_*_FILE, as paths: read when a client is made, and again at each connection. */
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

/**
 * The files' contents, read now (an unreadable file is an error at start) and again at each new
 * connection: a certificate renewed in place is sent from the next connection on.
 */
export function readRedisTls(files: RedisTlsFiles | undefined): RedisTlsOptions {
  if (!files) return {};
  const variable = { ca: 'REDIS_TLS_CA_FILE', cert: 'REDIS_TLS_CERT_FILE', key: 'REDIS_TLS_KEY_FILE' } as const;
  return readOnEachUse<RedisTlsOptions>({}, { ca: files.caFile, cert: files.certFile, key: files.keyFile }, (property, file) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new AppError('UNAVAILABLE', `${variable[property]}=${JSON.stringify(file)}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}); mount the PEM file there or fix the path`);
    }
  });
}
