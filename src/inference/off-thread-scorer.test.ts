import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, deriveContract, inspectGraph, OffThreadScorer, Servable } from './index.js';

const bytes = new Uint8Array(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.onnx')));
const expected = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.expected.json'), 'utf8')) as { rows: Record<string, unknown>[] };
const { contract, output } = deriveContract(inspectGraph(bytes));
contract.missing_category = 'missing';
const spec = { model: 'churn', version: 1, contract, output, policy: defaultPolicy('binary') };

/** The scheduling policy of a thread as the kernel reports it (util-linux chrt, not the code under test). */
const policyOf = (tid: number) => /policy: (SCHED_\w+)/.exec(execFileSync('chrt', ['-p', String(tid)], { encoding: 'utf8' }))?.[1];

describe("the shadow scoring thread's priority (Linux)", () => {
  for (const [asked, policy] of [
    ['idle', 'SCHED_IDLE'],
    [undefined, 'SCHED_OTHER'],
  ] as const) {
    it(`${asked ?? 'normal (the default)'}: the thread runs under ${policy} and scores`, async () => {
      const scorer = new OffThreadScorer(async () => ({ bytes, spec }), asked ? { priority: asked } : {});
      try {
        const local = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 } });
        const row = local.encoder.encode(expected.rows[0], 'payload').row;
        const [remote] = await scorer.score('churn', 1, [row]);
        const [here] = await local.run([row]);
        expect(remote.score).toBe(here.score);
        const info = scorer.info!;
        expect(info.priority).toBe(asked ?? 'normal');
        expect(info.tid).not.toBe(process.pid);
        expect(policyOf(info.tid!)).toBe(policy);
        expect(policyOf(process.pid)).toBe('SCHED_OTHER');
      } finally {
        await scorer.close();
      }
    });
  }
});
