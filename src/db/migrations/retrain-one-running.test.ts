import { afterAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../../test/helpers/db.js';
import { isUniqueViolation } from '../unique-violation.js';
import { migrate, openDb } from '../index.js';
import { retrainOneRunningMigration } from './019_retrain_one_running.js';

for (const dialect of DIALECTS) {
  describe(`migration 019 on ${dialect}`, () => {
    const loc = freshDb(dialect);
    afterAll(() => dropDb(loc));

    it('keeps the newest running retrain of each model, records the older ones as lost, then refuses a second running run', async () => {
      const db = await openDb(loc);
      try {
        await migrate(db);
        // The database as it was before 019: nothing stopped two runs of one model.
        await retrainOneRunningMigration().down!(db.kysely);
        const run = (id: string, model: string, status: string, started_at: string) => ({
          id,
          model,
          trigger: 'manual',
          status,
          from_version: 1,
          candidate_version: null,
          started_at,
          finished_at: null,
          detail: JSON.stringify({ holder: `host:${id}` }),
        });
        await db.kysely
          .insertInto('retrain_runs')
          .values([
            run('a-old', 'a', 'running', '2026-11-01T00:00:00.000Z'),
            run('a-new', 'a', 'running', '2026-11-02T00:00:00.000Z'),
            run('a-done', 'a', 'registered', '2026-11-03T00:00:00.000Z'),
            run('b-only', 'b', 'running', '2026-11-01T00:00:00.000Z'),
          ])
          .execute();
        await retrainOneRunningMigration().up(db.kysely);
        const rows = await db.kysely.selectFrom('retrain_runs').select(['id', 'status', 'finished_at', 'detail']).orderBy('id').execute();
        expect(rows.map((r) => [r.id, r.status])).toEqual([
          ['a-done', 'registered'],
          ['a-new', 'running'],
          ['a-old', 'lost'],
          ['b-only', 'running'],
        ]);
        const old = rows.find((r) => r.id === 'a-old')!;
        expect(old.finished_at).not.toBeNull();
        expect(JSON.stringify(old.detail)).toMatch(/another retrain of the model started after it while it was still recorded as running/);

        const second = db.kysely
          .insertInto('retrain_runs')
          .values(run('a-third', 'a', 'running', '2026-11-04T00:00:00.000Z'))
          .execute();
        const refused = await second.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(refused, 'a second running run of model a').toBeDefined();
        expect(isUniqueViolation(refused)).toBe(true);
        // Runs that ended, and a running run of another model, are not refused.
        await db.kysely
          .insertInto('retrain_runs')
          .values([run('a-failed', 'a', 'failed', '2026-11-04T00:00:00.000Z'), run('c-one', 'c', 'running', '2026-11-04T00:00:00.000Z')])
          .execute();
      } finally {
        await db.close();
      }
    });
  });
}
