import { sql, type Kysely, type Migration } from 'kysely';
import type { Database } from '../schema.js';

/**
 * At most one retrain of a model runs at a time, across every replica and CLI: a unique index on
 * the model over the runs still 'running'. Two Retrain now requests on two replicas (or a plan's
 * run and a person's) each read that none was running and both trained. Runs left 'running'
 * beside a newer one (a killed process's, from before) are recorded as lost first.
 */
export function retrainOneRunningMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // The table as 014 made it, which this migration does not change.
      const runs = db as unknown as Kysely<Pick<Database, 'retrain_runs'>>;
      const running = await runs
        .selectFrom('retrain_runs')
        .select(['id', 'model', 'started_at'])
        .where('status', '=', 'running')
        .orderBy('model')
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .execute();
      const seen = new Set<string>();
      const at = new Date().toISOString();
      for (const r of running) {
        if (!seen.has(r.model)) {
          seen.add(r.model);
          continue;
        }
        const error = 'another retrain of the model started after it while it was still recorded as running; it stopped without finishing, or its end was not recorded';
        await runs
          .updateTable('retrain_runs')
          .set({ status: 'lost', finished_at: at, detail: JSON.stringify({ error }) })
          .where('id', '=', r.id)
          .execute();
      }
      await db.schema
        .createIndex('retrain_runs_one_running')
        .unique()
        .on('retrain_runs')
        .column('model')
        .where(sql<boolean>`status = 'running'`)
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('retrain_runs_one_running').execute();
    },
  };
}
