import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ MODELGATE_DATA_DIR: '/tmp/modelgate-config-test', MODELGATE_AUTH: 'off', ...env });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

describe('a numeric setting out of its range', () => {
  it('says the range, whether the value is too small, too large, negative, a fraction or not a number', () => {
    // Before: "expected a number" for all of these, of 10 and -1 too.
    expect(problemsOf({ BODY_LIMIT_BYTES: '10' })).toEqual(['BODY_LIMIT_BYTES="10": expected a whole number from 1,024 to 536,870,912']);
    for (const v of ['-1', '1.5', 'abc', '86400001']) expect(problemsOf({ CACHE_TTL_MS: v }), v).toEqual([`CACHE_TTL_MS="${v}": expected a whole number from 0 to 86,400,000`]);
    expect(problemsOf({ CACHE_TTL_MS: '86400000', BODY_LIMIT_BYTES: '1024' })).toEqual([]);
  });
});
