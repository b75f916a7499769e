import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

export function rolloutsMigration(dialect: Dialect): Migration {
  const ts = sql.raw(dialect === 'postgres' ? 'timestamptz' : 'text');
  const json = sql.raw(dialect === 'postgres' ? 'jsonb' : 'text');
  const id = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement());
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('rollouts')
        .addColumn('model', 'text', (c) => c.primaryKey().references('models.name'))
        .addColumn('target', 'text', (c) => c.notNull().defaultTo('production'))
        .addColumn('production_version', 'integer')
        .addColumn('canary_version', 'integer')
        .addColumn('canary_percent', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('steps', json, (c) => c.notNull())
        .addColumn('step_index', 'integer', (c) => c.notNull().defaultTo(-1))
        .addColumn('step_interval_ms', 'bigint', (c) => c.notNull())
        .addColumn('min_requests', 'integer', (c) => c.notNull())
        .addColumn('analysis', json, (c) => c.notNull())
        .addColumn('auto_promote', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('shadow_version', 'integer')
        .addColumn('shadow_percent', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('shadow_started_at', ts)
        .addColumn('started_at', ts)
        .addColumn('step_started_at', ts)
        .addColumn('started_by', 'text')
        .addColumn('updated_at', ts, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('rollout_events')
        .addColumn('id', 'integer', id)
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('production_version', 'integer')
        .addColumn('canary_version', 'integer')
        .addColumn('percent', 'double precision')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('details', json, (c) => c.notNull())
        .addColumn('at', ts, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollout_events_model').on('rollout_events').columns(['model', 'id']).execute();
      await db.schema
        .createTable('rollbacks')
        .addColumn('id', 'integer', id)
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('canary_version', 'integer', (c) => c.notNull())
        .addColumn('production_version', 'integer')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('trigger_metric', 'text')
        .addColumn('observed', 'double precision')
        .addColumn('threshold', 'double precision')
        .addColumn('rolled_back_by', 'text', (c) => c.notNull())
        .addColumn('at', ts, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollbacks_model').on('rollbacks').columns(['model', 'id']).execute();
      await db.schema
        .createTable('arm_stats')
        .addColumn('id', 'integer', id)
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('arm', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('replica', 'text', (c) => c.notNull())
        .addColumn('bucket_start', 'bigint', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('errors', 'integer', (c) => c.notNull())
        .addColumn('latency', json, (c) => c.notNull())
        .addColumn('decisions', json, (c) => c.notNull())
        .addColumn('scores', json, (c) => c.notNull())
        .addColumn('compared', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('agreed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('abs_diff', 'double precision', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('arm_stats_model_time').on('arm_stats').columns(['model', 'bucket_start']).execute();
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['leases', 'arm_stats', 'rollbacks', 'rollout_events', 'rollouts']) await db.schema.dropTable(t).execute();
    },
  };
}
