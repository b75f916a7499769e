import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PredictionRecord } from '../src/audit/index.js';
import { rowPayload } from '../src/training/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();
const ROWS = 40_000;

/**
 * A monitoring run reads a whole window of logged predictions on the request thread. On SQLite
 * the driver is synchronous, so before the reads were paged and paused, a run held every
 * request — /healthz included — until it ended (a second for 200,000 predictions).
 */
for (const dialect of DIALECTS) {
  describe(`a monitoring run on ${dialect} leaves the server answering`, () => {
    let s: TestServer;
    const now = Date.now();

    beforeAll(async () => {
      s = await startTestServer({ dialect, listen: true, jobs: false });
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, manifest: { reference: demo.reference }, actor: 't' });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      // Timestamps repeat (seven predictions a millisecond, so 1,000-row pages end inside a tie): keyset pages must split ties correctly.
      const records: PredictionRecord[] = Array.from({ length: ROWS }, (_, i) => ({
        id: `p-${String(i).padStart(6, '0')}-${(i * 7919) % 1000}`,
        at: new Date(now - 3_600_000 + Math.floor(i / 7)).toISOString(),
        model: 'hotel',
        version: 1,
        arm: 'production',
        event_id: null,
        features: JSON.stringify(rowPayload(demo.holdout.data, i % demo.holdout.data.rows)),
        features_sha256: null,
        score: (i % 100) / 100,
        decision: i % 3 === 0 ? 'act' : 'none',
        latency_ms: 1,
        cached: false,
        key_id: null,
        label: null,
      }));
      for (let i = 0; i < ROWS; i += 5000) await s.ctx.audit.insertMany(records.slice(i, i + 5000));
      // Outcomes for every tenth prediction: the join with feedback runs over the same slices.
      const feedback = records
        .filter((_, i) => i % 10 === 0)
        .map((r, j) => ({ prediction_id: r.id, model: 'hotel', event_id: null, label: j % 2, value: null, at: new Date(now).toISOString(), key_id: null, actual_class: null, actual_value: null }));
      for (let i = 0; i < feedback.length; i += 1000)
        await s.ctx.db.kysely
          .insertInto('feedback')
          .values(feedback.slice(i, i + 1000))
          .execute();
    }, 120_000);
    afterAll(() => s?.stop());

    it('a request sent while the run reads is answered before the run ends, and every prediction and outcome is counted once', async () => {
      let answeredAt: number | undefined;
      let health: Promise<void> | undefined;
      const run = s.ctx.monitoring.run('hotel', 24 * 3_600_000, {
        onProgress: () => {
          health ??= fetch(`${s.url}/healthz`).then(async (r) => {
            expect(r.status).toBe(200);
            await r.text();
            answeredAt = performance.now();
          });
        },
      });
      const { report } = await run;
      const endedAt = performance.now();
      await health;
      expect(answeredAt).toBeDefined();
      expect(answeredAt!).toBeLessThan(endedAt);
      // Every row once, though seven share each timestamp and pages hold 1,000.
      expect(report.predictions).toBe(ROWS);
      // The default policy acts above 0.5; every third row was logged as acted on.
      expect(report.action_rate.decisions).toEqual(['act']);
      expect(report.action_rate.window).toBeCloseTo(Math.ceil(ROWS / 3) / ROWS, 9);
      expect(report.action_rate.trailing_7d).toBeCloseTo(Math.ceil(ROWS / 3) / ROWS, 9);
      expect(report.sufficiency.outcomes.labelled).toBe(ROWS / 10);
    });
  });
}
