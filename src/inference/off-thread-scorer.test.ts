import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { policyOf } from '../../test/helpers/thread-policy.js';
import { defaultPolicy, deriveContract, inspectGraph, OffThreadScorer, Servable } from './index.js';

const bytes = new Uint8Array(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.onnx')));
const expected = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../test/fixtures/telco_gbdt.expected.json'), 'utf8')) as { rows: Record<string, unknown>[] };
const { contract, output } = deriveContract(inspectGraph(bytes));
contract.missing_category = 'missing';
const spec = { model: 'churn', version: 1, contract, output, policy: defaultPolicy('binary') };

describe("the shadow scoring thread's priority (Linux)", () => {
  it('normal (the default): the thread keeps the ordinary policy and scores as the request thread would', async () => {
    const scorer = new OffThreadScorer(async () => ({ bytes, spec }));
    try {
      const local = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 } });
      const row = local.encoder.encode(expected.rows[0], 'payload').row;
      const [remote] = await scorer.score('churn', 1, [row]);
      const [here] = await local.run([row]);
      expect(remote.score).toBe(here.score);
      expect(scorer.info).toMatchObject({ priority: 'normal' });
      expect(scorer.info!.tid).not.toBe(process.pid);
      expect(policyOf(scorer.info!.tid!)).toBe('SCHED_OTHER');
    } finally {
      await scorer.close();
    }
  });

  it('idle: the thread runs under SCHED_IDLE, the request thread keeps its policy', async () => {
    // Nothing to load (no such version): the thread only starts and reports, so its work at idle
    // priority is next to none and the test holds on a machine whose cores are busy.
    const scorer = new OffThreadScorer(async () => undefined, { priority: 'idle' });
    try {
      await expect(scorer.score('churn', 9, [])).rejects.toThrow(/has no version 9/);
      await vi.waitFor(() => expect(scorer.info).toBeDefined(), { timeout: 30_000, interval: 20 });
      expect(scorer.info!.priority).toBe('idle');
      expect(policyOf(scorer.info!.tid!)).toBe('SCHED_IDLE');
      expect(policyOf(process.pid)).toBe('SCHED_OTHER');
    } finally {
      await scorer.close();
    }
  });
});
