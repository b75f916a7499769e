import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Retraining: a model's retrain plan (where its new data is, the canary steps, how often at
 * most), and every retrain run with its outcome, so the monitor's trigger runs a plan once per
 * interval across the cluster.
 */
export function retrainMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('retrain_plans')
        .addColumn('model', 'text', (c) => c.primaryKey())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('canary_steps', json, (c) => c.notNull())
        .addColumn('step_interval', 'text')
        .addColumn('min_interval_ms', 'bigint', (c) => c.notNull())
        .addColumn('max_metric_drop', 'double precision', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('retrain_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('from_version', 'integer')
        .addColumn('candidate_version', 'integer')
        .addColumn('started_at', ts, (c) => c.notNull())
        .addColumn('finished_at', ts)
        .addColumn('detail', json)
        .execute();
      await db.schema.createIndex('retrain_runs_model_started').on('retrain_runs').columns(['model', 'started_at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('retrain_runs').execute();
      await db.schema.dropTable('retrain_plans').execute();
    },
  };
}
