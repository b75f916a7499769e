import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOnEachUse } from './read-on-each-use.js';

describe('readOnEachUse', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'read-on-use-'));
  const file = path.join(dir, 'tls.crt');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file at each use, keeps the last contents when it cannot, and lets the first read fail', () => {
    writeFileSync(file, 'first');
    const options = readOnEachUse<{ cert?: Buffer; key?: Buffer }>({}, { cert: file, key: undefined }, (_, f) => readFileSync(f));
    expect(String(options.cert)).toBe('first');
    expect('key' in options).toBe(false);
    writeFileSync(file, 'renewed');
    // What a TLS client does with its options at each connection.
    expect(String({ ...options }.cert)).toBe('renewed');
    rmSync(file);
    expect(String(Object.assign({}, options).cert)).toBe('renewed');
    expect(() =>
      readOnEachUse({}, { cert: file }, (p) => {
        throw new Error(`cannot read ${p}`);
      }),
    ).toThrow('cannot read cert');
  });

  it('a driver may hide the key from enumeration and still read it', () => {
    writeFileSync(file, 'secret');
    const options = readOnEachUse<{ key?: Buffer }>({}, { key: file }, (_, f) => readFileSync(f));
    Object.defineProperty(options, 'key', { enumerable: false });
    writeFileSync(file, 'secret-renewed');
    expect(Object.keys(options)).toEqual([]);
    expect(String(options.key)).toBe('secret-renewed');
  });
});
