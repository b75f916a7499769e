import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * The registry revision: one counter every change to what is served (aliases, versions,
 * rollouts) bumps inside its transaction. Servers poll it to know when to reload.
 * Bumping first in a transaction also takes SQLite's write lock at once, so concurrent
 * writers queue instead of failing.
 */
export function bumpRevision(q: Kysely<Database> | Transaction<Database>) {
  return q.updateTable('modelgate_meta').set({ value: sql`value + 1` }).where('key', '=', 'registry_revision').execute();
}

export async function readRevision(q: Kysely<Database>): Promise<number> {
  const r = await q.selectFrom('modelgate_meta').select('value').where('key', '=', 'registry_revision').executeTakeFirst();
  return Number(r?.value ?? 0);
}
