import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../test/helpers/db.js';
import { turnsDuring } from '../../test/helpers/turns.js';
import { migrate, openDb, type Db } from '../db/index.js';
import { createRolloutStore, FEEDBACK_CLOCK_SKEW_MS, outcomesQuery } from './store.js';

const SINCE = Date.parse('2026-11-20T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

interface P {
  id: string;
  at: number;
  model: string;
  arm: string;
  version: number;
  score: number;
  feedbackAt?: number;
  label?: number;
}

/** Predictions around a canary step that began at SINCE, some with feedback. */
function scenario(): P[] {
  const ps: P[] = [];
  let n = 0;
  const add = (p: Omit<P, 'id' | 'score'>) => ps.push({ ...p, id: `p${String(n).padStart(6, '0')}`, score: n++ / 100_000 });
  for (let i = 0; i < 3000; i++) {
    const at = SINCE + i * 1000;
    // Every 30th prediction of the window gets its outcome an hour later.
    add({ at, model: 'churn', arm: 'production', version: 1, ...(i % 30 === 0 ? { feedbackAt: at + 3_600_000, label: i % 2 } : {}) });
  }
  // Before the step: labelled, but not this step's.
  for (let i = 1; i <= 50; i++) add({ at: SINCE - i * 60_000, model: 'churn', arm: 'production', version: 1, feedbackAt: SINCE + i * 1000, label: 1 });
  // The other arm, and another model, in the window.
  for (let i = 0; i < 20; i++) add({ at: SINCE + i * 1000, model: 'churn', arm: 'canary', version: 2, feedbackAt: SINCE + 7_200_000, label: 0 });
  for (let i = 0; i < 20; i++) add({ at: SINCE + i * 1000, model: 'fraud', arm: 'production', version: 1, feedbackAt: SINCE + 7_200_000, label: 0 });
  // Stored by a replica whose clock is two minutes behind: its time reads before the step began.
  add({ at: SINCE + 10_000, model: 'churn', arm: 'production', version: 1, feedbackAt: SINCE - 2 * 60_000, label: 1 });
  return ps;
}

for (const dialect of DIALECTS) {
  describe(`canary outcomes from the audit log on ${dialect}`, () => {
    const loc = freshDb(dialect);
    let db: Db;
    const ps = scenario();
    beforeAll(async () => {
      db = await openDb(loc);
      await migrate(db);
      const preds = ps.map((p) => ({
        id: p.id,
        at: iso(p.at),
        model: p.model,
        version: p.version,
        arm: p.arm,
        event_id: null,
        features: null,
        features_sha256: null,
        score: p.score,
        label: null,
        decision: p.score >= 0.01 ? 'act' : 'none',
        latency_ms: 1,
        cached: 0,
        key_id: null,
      }));
      for (let i = 0; i < preds.length; i += 500)
        await db.kysely
          .insertInto('predictions')
          .values(preds.slice(i, i + 500))
          .execute();
      const fb = ps
        .filter((p) => p.feedbackAt !== undefined)
        .map((p) => ({ prediction_id: p.id, model: p.model, event_id: null, label: p.label ?? null, value: null, actual_class: null, actual_value: null, at: iso(p.feedbackAt!), key_id: null }));
      for (let i = 0; i < fb.length; i += 500)
        await db.kysely
          .insertInto('feedback')
          .values(fb.slice(i, i + 500))
          .execute();
    });
    afterAll(async () => {
      await db?.close();
      await dropDb(loc);
    });

    it("joins exactly the step window's labelled predictions of the arm, a skewed replica's feedback included", async () => {
      const store = createRolloutStore(db);
      const got = await store.outcomes('churn', 'production', 1, iso(SINCE));
      const want = ps.filter((p) => p.model === 'churn' && p.arm === 'production' && p.version === 1 && p.at >= SINCE && p.feedbackAt !== undefined);
      expect(want).toHaveLength(101);
      expect(got.map((r) => r.score).sort((a, b) => a - b)).toEqual(want.map((p) => p.score).sort((a, b) => a - b));
      const byScore = new Map(want.map((p) => [p.score, p]));
      for (const r of got) expect(r.label).toBe(byScore.get(r.score)!.label);
      expect(await store.outcomes('churn', 'canary', 2, iso(SINCE))).toHaveLength(20);
      expect(FEEDBACK_CLOCK_SKEW_MS).toBeGreaterThan(2 * 60_000);
    });

    it('reads many outcomes in slices of feedback time, with turns of the event loop between them on SQLite', async () => {
      const n = 12_000;
      const preds = Array.from({ length: n }, (_, i) => ({
        id: `bulk${String(i).padStart(6, '0')}`,
        at: iso(SINCE + i * 100),
        model: 'bulk',
        version: 1,
        arm: 'production',
        event_id: null,
        features: null,
        features_sha256: null,
        score: i / n,
        label: null,
        decision: 'none',
        latency_ms: 1,
        cached: 0,
        key_id: null,
      }));
      for (let i = 0; i < n; i += 500)
        await db.kysely
          .insertInto('predictions')
          .values(preds.slice(i, i + 500))
          .execute();
      // Outcomes a second apart, from a minute after the step began.
      const fb = preds.map((p, i) => ({
        prediction_id: p.id,
        model: 'bulk',
        event_id: null,
        label: i % 2,
        value: null,
        actual_class: null,
        actual_value: null,
        at: iso(SINCE + 60_000 + i * 1000),
        key_id: null,
      }));
      for (let i = 0; i < n; i += 500)
        await db.kysely
          .insertInto('feedback')
          .values(fb.slice(i, i + 500))
          .execute();
      const store = createRolloutStore(db);
      const { result, turns } = await turnsDuring(store.outcomes('bulk', 'production', 1, iso(SINCE)));
      expect(result).toHaveLength(n);
      expect(result.filter((r) => r.label === 1)).toHaveLength(n / 2);
      // In one query there is no turn at all.
      if (dialect === 'sqlite') expect(turns).toBeGreaterThanOrEqual(5);
      expect(await store.outcomes('bulk', 'production', 1, iso(SINCE + n * 100))).toEqual([]);
    });

    if (dialect === 'sqlite') {
      it("reads from the feedback, not from every prediction of the window (SQLite's plan)", async () => {
        const q = outcomesQuery(db.kysely, 'churn', 'production', 1, iso(SINCE)).compile();
        const plan = await db.kysely.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
        expect(plan.rows[0].detail).toMatch(/^SEARCH f USING INDEX feedback_model_at/);
        expect(plan.rows[1].detail).toMatch(/^SEARCH p USING INDEX sqlite_autoindex_predictions_1 \(id=\?\)/);
      });
    }
  });
}
