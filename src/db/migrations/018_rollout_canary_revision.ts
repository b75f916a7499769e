import type { Kysely, Migration } from 'kysely';

/**
 * A counter every change to a rollout's canary bumps (start, percent, steps, rules, a step,
 * the end), so the canary analysis applies a transition only to the canary it judged: an
 * operator's change of rules or steps at the same percent left (version, step, percent) as they
 * were, and a decision made under the old rules was applied over it. A counter rather than a
 * timestamp, which a database may store at another precision than it was compared with.
 */
export function rolloutCanaryRevisionMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('rollouts')
        .addColumn('canary_revision', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('rollouts').dropColumn('canary_revision').execute();
    },
  };
}
