import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, unreadVariables } from './config.js';

const set = (...names: string[]) => Object.fromEntries(names.map((n) => [n, 'x']));
/** The variable each warning names, and the one it suggests ('' for none). */
const suggested = (names: string[]) => Object.fromEntries(unreadVariables(set(...names)).map((w) => [w.split(' ')[0], /did you mean (\w+)\?/.exec(w)?.[1] ?? '']));

describe('variables set for modelgate that it does not read', () => {
  it('a misspelling or a wrong name in one of its own families is named, with the variable meant', () => {
    expect(suggested(['ARTIFACT_DIR', 'DATABSE_URL', 'REDIS_URI', 'WORKER', 'LOGLEVEL', 'AUDIT_FLUSH', 'CACHE_TTL', 'MODELGATE_ADMINTOKEN', 'JWT_SECRETS', 'BATCH_MAX_WAIT_MS'])).toEqual({
      ARTIFACT_DIR: 'ARTIFACT_STORE',
      DATABSE_URL: 'DATABASE_URL',
      REDIS_URI: 'REDIS_URL',
      WORKER: 'WORKERS',
      LOGLEVEL: 'LOG_LEVEL',
      AUDIT_FLUSH: 'AUDIT_FLUSH_MS',
      CACHE_TTL: 'CACHE_TTL_MS',
      MODELGATE_ADMINTOKEN: 'MODELGATE_ADMIN_TOKEN',
      JWT_SECRETS: 'JWT_SECRET',
      BATCH_MAX_WAIT_MS: 'BATCH_MAX_WAIT_US',
    });
  });

  it('a name in its own family that is near none of them is named without a guess', () => {
    expect(suggested(['MODELGATE_URL', 'S3_BUCKET'])).toEqual({ MODELGATE_URL: '', S3_BUCKET: '' });
  });

  it("the variables it reads, other programs' variables and Kubernetes service links pass without a word", () => {
    const quiet = [
      ...CONFIG_VARIABLES,
      ...['PATH', 'HOME', 'HOSTNAME', 'NODE_ENV', 'NODE_OPTIONS', 'PGPORT', 'PGHOST', 'PGUSER', 'DATABASE_HOST', 'REDIS_PASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_REGION'],
      ...['MODELGATE_ACTOR', 'MODELGATE_TOKEN', 'ONNXRUNTIME_NODE_INSTALL', 'CI', 'TERM', 'LANG'],
      ...['MODELGATE_PORT', 'MODELGATE_SERVICE_HOST', 'MODELGATE_SERVICE_PORT', 'MODELGATE_SERVICE_PORT_HTTP', 'MODELGATE_PORT_8080_TCP', 'MODELGATE_PORT_8080_TCP_ADDR', 'REDIS_PORT_6379_TCP_PORT'],
    ];
    expect(unreadVariables(set(...quiet))).toEqual([]);
  });

  it('says what is ignored and where the variables are listed', () => {
    expect(unreadVariables(set('ARTIFACT_DIR'))).toEqual([
      "ARTIFACT_DIR is set, but modelgate reads no variable of that name and ignores it: did you mean ARTIFACT_STORE? the README's Configuration section lists every variable",
    ]);
  });
});
