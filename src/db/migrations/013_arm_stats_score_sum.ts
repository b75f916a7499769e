import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Each arm's summed score, so its mean is exact for every task: a regression model's values
 * do not fit the probability bins the score histogram uses.
 */
export function armStatsScoreSumMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('arm_stats')
        .addColumn('score_sum', 'double precision', (c) => c.notNull().defaultTo(sql`0`))
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('arm_stats').dropColumn('score_sum').execute();
    },
  };
}
