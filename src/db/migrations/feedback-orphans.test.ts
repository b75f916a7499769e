import { afterAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../../test/helpers/db.js';
import { migrate, openDb } from '../index.js';
import { feedbackOrphansMigration } from './016_feedback_orphans.js';

for (const dialect of DIALECTS) {
  describe(`migration 016 on ${dialect}`, () => {
    const loc = freshDb(dialect);
    afterAll(() => dropDb(loc));

    it('removes the outcomes whose predictions retention deleted, and keeps every other', async () => {
      const db = await openDb(loc);
      try {
        await migrate(db);
        const at = '2026-11-01T00:00:00.000Z';
        const prediction = (id: string) => ({
          id,
          at,
          model: 'm',
          version: 1,
          arm: 'production',
          event_id: `e-${id}`,
          features: null,
          features_sha256: null,
          score: 0.5,
          decision: 'act',
          latency_ms: 1,
          cached: 0,
          key_id: null,
          label: null,
        });
        const outcome = (id: string) => ({ prediction_id: id, model: 'm', event_id: `e-${id}`, label: 1, actual_class: null, actual_value: null, value: null, at, key_id: null });
        await db.kysely
          .insertInto('predictions')
          .values([prediction('kept-1'), prediction('kept-2')])
          .execute();
        // What retention left before: outcomes of predictions it deleted.
        await db.kysely.insertInto('feedback').values(['kept-1', 'kept-2', 'gone-1', 'gone-2', 'gone-3'].map(outcome)).execute();
        await feedbackOrphansMigration().up(db.kysely);
        const left = await db.kysely.selectFrom('feedback').select('prediction_id').orderBy('prediction_id').execute();
        expect(left.map((r) => r.prediction_id)).toEqual(['kept-1', 'kept-2']);
      } finally {
        await db.close();
      }
    });
  });
}
