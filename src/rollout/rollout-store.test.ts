import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../test/helpers/db.js';
import { migrate, openDb, type Db } from '../db/index.js';
import { idleRollout } from './idle.js';
import { createRolloutStore, type Rollout } from './store.js';

/** A canary of `version` against production v1 at the first of the steps 10, 50, 100 %, started at `at`. */
const canaryAtFirstStep = (model: string, version: number, at: string): Rollout => ({
  ...idleRollout(model, { stepIntervalMs: 600_000, minRequests: 200 }, at),
  production_version: 1,
  canary_version: version,
  canary_percent: 10,
  steps: [10, 50, 100],
  step_index: 0,
  started_at: at,
  step_started_at: at,
  started_by: 't',
});

for (const dialect of DIALECTS) {
  describe(`rollout rows on ${dialect}`, () => {
    const loc = freshDb(dialect);
    let db: Db;
    beforeAll(async () => {
      db = await openDb(loc);
      await migrate(db);
    });
    afterAll(async () => {
      await db?.close();
      await dropDb(loc);
    });

    it('a canary transition decided from an earlier read leaves a shadow changed meanwhile as it is now', async () => {
      const store = createRolloutStore(db);
      const at = '2026-12-05T10:00:00.000Z';
      const running: Rollout = { ...canaryAtFirstStep('churn', 3, at), shadow_version: 2, shadow_percent: 100, shadow_started_at: at };
      await db.kysely.insertInto('models').values({ name: 'churn', description: null, created_at: at }).execute();
      await store.transaction((tx) => store.put(tx, running));
      // What the analysis read; then an operator stops the shadow.
      const read = (await store.get('churn'))!;
      const later = '2026-12-05T10:05:00.000Z';
      await store.transaction((tx) => store.put(tx, { ...read, shadow_version: null, shadow_percent: 0, shadow_started_at: null, updated_at: later }));
      // The step the analysis decided, from its read.
      const stepAt = '2026-12-05T10:10:00.000Z';
      expect(await store.transaction((tx) => store.compareAndSet(tx, read, { ...read, canary_percent: 50, step_index: 1, step_started_at: stepAt, updated_at: stepAt }))).toBe(true);
      expect(await store.get('churn')).toMatchObject({
        canary_version: 3,
        canary_percent: 50,
        step_index: 1,
        step_started_at: stepAt,
        shadow_version: null,
        shadow_percent: 0,
        shadow_started_at: null,
      });
      // A transition from a read whose step is gone is not applied.
      expect(await store.transaction((tx) => store.compareAndSet(tx, read, { ...read, canary_percent: 100, step_index: 2 }))).toBe(false);
      expect((await store.get('churn'))!.step_index).toBe(1);
      // Nor one from a read whose percent an operator changed within the step (canary set 62.5).
      const atStep = (await store.get('churn'))!;
      await store.transaction((tx) => store.put(tx, { ...atStep, canary_percent: 62.5, updated_at: '2026-12-05T10:15:00.000Z' }));
      expect(await store.transaction((tx) => store.compareAndSet(tx, atStep, { ...atStep, canary_percent: 100, step_index: 2 }))).toBe(false);
      expect(await store.get('churn')).toMatchObject({ canary_percent: 62.5, step_index: 1 });
      // A fresh read applies.
      const fresh = (await store.get('churn'))!;
      expect(await store.transaction((tx) => store.compareAndSet(tx, fresh, { ...fresh, canary_percent: 100, step_index: 2 }))).toBe(true);
      expect(await store.get('churn')).toMatchObject({ canary_percent: 100, step_index: 2 });
    });

    it('a change of steps or rules at the same step and percent bumps the revision and voids a transition decided before it', async () => {
      const store = createRolloutStore(db);
      const at = '2026-12-05T11:00:00.000Z';
      await db.kysely.insertInto('models').values({ name: 'fraud', description: null, created_at: at }).execute();
      const running: Rollout = { ...canaryAtFirstStep('fraud', 2, at), canary_revision: 1 };
      await store.transaction((tx) => store.put(tx, running));
      const read = (await store.get('fraud'))!;
      expect(read.canary_revision).toBe(1);
      // An operator's start request names stricter rules and finer steps; the percent and step stay.
      const changedAt = '2026-12-05T11:05:00.000Z';
      const stricter = { ...read, steps: [10, 20, 100], analysis: { ...read.analysis, max_error_ratio: 1.1 }, updated_at: changedAt, canary_revision: read.canary_revision + 1 };
      await store.transaction((tx) => store.put(tx, stricter));
      // The step the analysis decided under the old rules and steps is not applied over them.
      const stepAt = '2026-12-05T11:10:00.000Z';
      expect(await store.transaction((tx) => store.compareAndSet(tx, read, { ...read, canary_percent: 50, step_index: 1, step_started_at: stepAt, updated_at: stepAt }))).toBe(false);
      expect(await store.get('fraud')).toMatchObject({ canary_percent: 10, steps: [10, 20, 100], analysis: { max_error_ratio: 1.1 }, canary_revision: 2 });
      // Decided afresh, it applies, and the transition bumps the revision in turn.
      const fresh = (await store.get('fraud'))!;
      expect(await store.transaction((tx) => store.compareAndSet(tx, fresh, { ...fresh, canary_percent: 20, step_index: 1, step_started_at: stepAt, updated_at: stepAt }))).toBe(true);
      expect(await store.get('fraud')).toMatchObject({ canary_percent: 20, step_index: 1, steps: [10, 20, 100], canary_revision: 3 });
      expect(await store.transaction((tx) => store.compareAndSet(tx, fresh, { ...fresh, canary_percent: 100, step_index: 2 }))).toBe(false);
    });
  });
}
