import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPolicy, deriveContract, inspectGraph, openReferenceOffThread, Servable, type RuntimeOptions } from './index.js';
import { onnxruntime } from './ort.js';
import { ReferenceLost, type Reference } from './reference.js';

/**
 * The check a compiled version passes before it serves, with onnxruntime's answers from the
 * process's check thread: the request thread never creates an onnxruntime session for it, and
 * the check concludes as it does in-thread (accepted when equal, refused when not).
 */
const bytes = new Uint8Array(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.onnx')));
const expected = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.expected.json'), 'utf8')) as { rows: Record<string, unknown>[]; onnxruntime: number[] };
const { contract, output } = deriveContract(inspectGraph(bytes));
contract.missing_category = 'missing';
const spec = { model: 'churn', version: 1, contract, output, policy: defaultPolicy('binary') };
const opts: RuntimeOptions = { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 } };

/** Sessions this thread creates (the check thread has its own onnxruntime module, not counted). */
let created = 0;
const ort = onnxruntime();
const create = ort.InferenceSession.create.bind(ort.InferenceSession);
beforeEach(() => {
  created = 0;
  ort.InferenceSession.create = ((...args: Parameters<typeof create>) => {
    created++;
    return create(...args);
  }) as typeof create;
});
afterEach(() => {
  ort.InferenceSession.create = create;
});

describe('the compiled engine checked against onnxruntime on the check thread', () => {
  it('accepts the compiled engine without a session on this thread, and serves what onnxruntime computes', async () => {
    const fallbacks: string[] = [];
    const s = await Servable.load(bytes, spec, { ...opts, openReference: openReferenceOffThread, onEngineFallback: (_s, r) => fallbacks.push(r) });
    try {
      expect(fallbacks).toEqual([]);
      expect(s.engineName).toBe('compiled');
      expect(created).toBe(0);
      const scores = await s.scores(expected.rows.map((r) => s.encoder.encode(r, 'payload').row));
      scores.forEach((v, i) => expect(Math.abs(v - expected.onnxruntime[i])).toBeLessThanOrEqual(1e-6));
    } finally {
      await s.release();
    }
    // In-thread, the same check opens a session here: the count above would have seen it.
    const here = await Servable.load(bytes, spec, opts);
    await here.release();
    expect(created).toBeGreaterThan(0);
  });

  it('a compiled output that differs from the thread answers is refused: the version serves on onnxruntime, with the reason', async () => {
    const fallbacks: string[] = [];
    const s = await Servable.load(bytes, spec, {
      ...opts,
      openReference: openReferenceOffThread,
      onEngineFallback: (_s, r) => fallbacks.push(r),
      alterCompiled: (out) => ({ ...out, data: out.data.map((v, i) => (i === 1 ? v + 1e-3 : v)) }),
    });
    try {
      expect(s.engineName).toBe('onnxruntime');
      expect(fallbacks).toEqual([expect.stringMatching(/^compiled output differs from onnxruntime: /)]);
    } finally {
      await s.release();
    }
  });

  it('a graph onnxruntime cannot open fails the load with its reason, as in-thread', async () => {
    const wrong = { ...spec, output: { ...spec.output, name: 'no_such_output' } };
    const err = await Servable.load(bytes, wrong, { ...opts, openReference: openReferenceOffThread }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/output no_such_output missing/) });
  });

  it('a reference lost midway (its thread died) does not decide anything: the check is made again on this thread', async () => {
    const lost: string[] = [];
    const dying = async (): Promise<Reference> => ({
      run: () => Promise.reject(new ReferenceLost('the check thread stopped: exit code 1')),
      release: async () => undefined,
    });
    const s = await Servable.load(bytes, spec, { ...opts, openReference: dying, onReferenceLost: (_s, r) => lost.push(r) });
    try {
      // Not "onnxruntime refuses every row": the in-thread check accepted the compiled engine.
      expect(s.engineName).toBe('compiled');
      expect(lost).toEqual(['the check thread stopped: exit code 1']);
      expect(created).toBeGreaterThan(0);
    } finally {
      await s.release();
    }
  });
});
