import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRate } from '../src/access/index.js';
import { createEncoder } from '../src/inference/encoder.js';
import type { Contract } from '../src/inference/index.js';
import { formatDuration, parseDuration } from '../src/lib/duration.js';
import { AppError } from '../src/lib/errors.js';
import { ingestCsv, rowPayload } from '../src/training/index.js';
import { sign, verify } from '../src/webhooks/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

/**
 * Property-based tests: every input below is generated, and a failure prints fast-check's seed
 * and the shrunk counterexample (rerun with `fc.assert(…, { seed, path })` to replay it).
 */

/** A user-caused failure must be an AppError with a 4xx code; anything else is a bug. */
const userError = (e: unknown) => e instanceof AppError && e.status >= 400 && e.status < 500;

describe('fuzzed: duration and rate parsers', () => {
  const UNIT = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  it('any text: a finite whole number of milliseconds, or a validation error naming the field', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        try {
          const ms = parseDuration(text, 'X');
          expect(Number.isSafeInteger(ms) && ms >= 0).toBe(true);
        } catch (e) {
          expect(userError(e)).toBe(true);
          expect((e as AppError).message).toMatch(/^X: /);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('n followed by a unit is n units, and formatting a duration reads back the same', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom(...(Object.keys(UNIT) as (keyof typeof UNIT)[])), fc.constantFrom('', ' ', '\t'), (n, unit, pad) => {
        expect(parseDuration(`${pad}${n}${unit}${pad}`, 'X')).toBe(n * UNIT[unit]);
        expect(parseDuration(formatDuration(n * UNIT[unit]), 'X')).toBe(n * UNIT[unit]);
      }),
      { numRuns: 1000 },
    );
  });

  it('any text as a rate: a limit and a window within bounds, or a validation error', () => {
    const texts = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc
        .tuple(fc.integer({ min: -5, max: 2_000_000_000 }), fc.constantFrom('', '0', '1', '10', '0.5', '1.5', '999', '-1'), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'x', ''))
        .map(([l, n, u]) => `${l}/${n}${u}`),
    );
    fc.assert(
      fc.property(texts, (text) => {
        try {
          const r = parseRate(text);
          expect(Number.isInteger(r.limit) && r.limit >= 1 && r.limit <= 999_999_999).toBe(true);
          expect(r.windowMs >= 100 && r.windowMs <= 86_400_000).toBe(true);
        } catch (e) {
          expect(userError(e)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('fuzzed: webhook signatures', () => {
  const secret = fc.uint8Array({ minLength: 24, maxLength: 64 }).map((b) => `whsec_${Buffer.from(b).toString('base64')}`);
  it('a signature verifies its own message and no other (one changed character, another id or timestamp)', () => {
    fc.assert(
      fc.property(secret, fc.string({ maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(), (s, id, ts, body, at) => {
        const header = sign(s, id, ts, body);
        expect(verify(s, id, ts, body, header)).toBe(true);
        expect(verify(s, id, ts, body, `v1,bogus ${header}`)).toBe(true);
        if (body.length) {
          const i = at % body.length;
          const changed = body.slice(0, i) + (body[i] === 'x' ? 'y' : 'x') + body.slice(i + 1);
          expect(verify(s, id, ts, changed, header)).toBe(false);
        }
        expect(verify(s, `${id}0`, ts, body, header)).toBe(false);
        expect(verify(s, id, ts + 1, body, header)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('any header text: true or false, never a throw', () => {
    fc.assert(
      fc.property(secret, fc.string({ unit: 'binary', maxLength: 400 }), (s, header) => {
        expect(typeof verify(s, 'msg_1', 1, '{}', header)).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('fuzzed: the contract encoder, every input type', () => {
  const contract: Contract = {
    contract_version: 1,
    task: 'binary',
    layout: 'columns',
    missing_category: '',
    features: [
      { name: 'f', type: 'float', input: 'f' },
      { name: 'd', type: 'double', input: 'd' },
      { name: 'i32', type: 'int32', input: 'i32' },
      { name: 'i64', type: 'int64', input: 'i64' },
      { name: 's', type: 'string', input: 's', categories: ['a', 'b'] },
      { name: 'b', type: 'bool', input: 'b' },
    ],
  } as Contract;
  const encoder = createEncoder(contract);
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.double(),
    fc.integer(),
    fc.bigInt().map(String),
    fc.constantFrom(null, true, false, '', '1e400', '-0', 'NaN', 9007199254740992, 2147483648, -2147483649),
  );
  it('any payload: a row of the contract types, or a 400 naming the field', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.constantFrom('f', 'd', 'i32', 'i64', 's', 'b', 'other', '__proto__'), value)), (payload) => {
        try {
          const { row } = encoder.encode(payload, 'payload');
          expect(row).toHaveLength(6);
          expect(typeof row[0] === 'number' && typeof row[1] === 'number').toBe(true);
          expect(Number.isInteger(row[2]) && (row[2] as number) >= -(2 ** 31) && (row[2] as number) < 2 ** 31).toBe(true);
          expect(typeof row[3]).toBe('bigint');
          expect(typeof row[4]).toBe('string');
          expect(typeof row[5]).toBe('boolean');
        } catch (e) {
          expect(userError(e), String(e)).toBe(true);
          expect((e as AppError).message).toMatch(/^payload/);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('fuzzed: CSV ingest', () => {
  const dir = tempDir();
  const cell = fc.oneof(
    fc.constantFrom('', ' ', 'NA', 'null', '?', '1', '2.5', '-3', '1e3', 'yes', 'no', 'a,b', 'say "hi"', 'line\nbreak', '\r', '\u00e9', '\ufeff', '  7  '),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.double({ noNaN: false }).map(String),
  );
  /** Quoted when it must be, and sometimes when it need not be. */
  const quote = ([c, always]: [string, boolean]) => (always || /[",\n\r]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);
  const table = fc
    .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 40 }))
    .chain(([cols, rows]) =>
      fc.tuple(
        fc.array(fc.array(fc.tuple(cell, fc.boolean()), { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows }),
        fc.constant(cols),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
      ),
    );
  let n = 0;
  it('any table with dirt, quoting, BOMs and stray bytes: a dataset or a 4xx explaining the file', async () => {
    await fc.assert(
      fc.asyncProperty(table, async ([rows, cols, eol, bom, stray]) => {
        const header = ['target', ...Array.from({ length: cols - 1 }, (_, i) => `c${i}`)];
        const text = [header.join(','), ...rows.map((r) => r.map(quote).join(','))].join(eol);
        const file = path.join(dir, `t${n++}.csv`);
        writeFileSync(file, Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text), Buffer.from(stray)]));
        try {
          const d = await ingestCsv(file, { target: 'target' });
          expect(d.data.rows).toBeGreaterThan(0);
        } catch (e) {
          expect(userError(e), `${String(e)}\n${text}`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});

describe('fuzzed: HTTP bodies to the inference routes', () => {
  let s: TestServer;
  const demo = demoModel();
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const send = async (url: string, body: unknown) => {
    const res = await s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? 'null' });
    expect(res.statusCode, `${url} ${JSON.stringify(body)?.slice(0, 300)} → ${res.body.slice(0, 300)}`).toBeLessThan(500);
    if (res.statusCode !== 200 && url.startsWith('/v2/')) {
      // The Open Inference Protocol's own error body: {"error": "message"}.
      const e = res.json() as { error: string };
      expect(typeof e.error === 'string' && e.error.length > 0).toBe(true);
    } else if (res.statusCode !== 200) {
      const e = res.json() as { error: { code: string; message: string; request_id: string } };
      expect(typeof e.error.code).toBe('string');
      expect(e.error.message.length).toBeGreaterThan(0);
      expect(e.error.request_id).toBeTruthy();
    }
    return res.statusCode;
  };
  const json = fc.jsonValue({ maxDepth: 4 });

  it('any JSON value as the body: never a 5xx, always the error model', async () => {
    await fc.assert(
      fc.asyncProperty(json, async (body) => {
        await send('/v1/infer', body);
        await send('/v1/models/hotel/predict', body);
        await send('/v2/models/hotel/infer', body);
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  // A real row with some fields replaced by anything and some unknown fields added.
  const nearValid = fc
    .tuple(fc.nat(), fc.dictionary(fc.constantFrom(...Object.keys(rowPayload(demo.holdout.data, 0)), 'extra', 'x y'), json, { maxKeys: 3 }))
    .map(([i, changes]) => ({ ...rowPayload(demo.holdout.data, i % demo.holdout.data.rows), ...changes }));

  it('any JSON value as the payload, instances or OIP inputs of an otherwise valid request', async () => {
    let ok = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(json, fc.dictionary(fc.string({ maxLength: 20 }), json), nearValid),
        fc.array(fc.oneof(json, nearValid), { minLength: 1, maxLength: 5 }),
        async (payload, instances) => {
          if ((await send('/v1/infer', { model: 'hotel', payload })) === 200) ok++;
          await send('/v1/models/hotel/predict', { instances });
          await send('/v2/models/hotel/infer', { inputs: instances });
          await send('/v2/models/hotel/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: instances }] });
        },
      ),
      { numRuns: 150 },
    );
    // Many random payloads are valid: missing numbers are allowed and unknown fields ignored.
    expect(ok).toBeGreaterThan(0);
  }, 120_000);
});
