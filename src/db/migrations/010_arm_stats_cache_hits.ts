import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Canary analysis compares latency and errors of model-scored requests only; cache hits are
 * counted apart so an arm with a warm cache does not look faster than the model is.
 */
export function armStatsCacheHitsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('arm_stats')
        .addColumn('cache_hits', 'integer', (c) => c.notNull().defaultTo(sql`0`))
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('arm_stats').dropColumn('cache_hits').execute();
    },
  };
}
