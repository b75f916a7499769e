import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * Revisions: the registry's is one counter every change to what is served (aliases, versions,
 * rollouts) bumps inside its transaction. Servers poll it to know when to reload.
 * Bumping first in a transaction also takes SQLite's write lock at once, so concurrent
 * writers queue instead of failing. The access revision does the same for API keys.
 */
export type RevisionKey = 'registry_revision' | 'access_revision';

export function bumpRevision(q: Kysely<Database> | Transaction<Database>, key: RevisionKey = 'registry_revision') {
  return q
    .updateTable('modelgate_meta')
    .set({ value: sql`value + 1` })
    .where('key', '=', key)
    .execute();
}

export async function readRevision(q: Kysely<Database>, key: RevisionKey = 'registry_revision'): Promise<number> {
  const r = await q.selectFrom('modelgate_meta').select('value').where('key', '=', key).executeTakeFirst();
  return Number(r?.value ?? 0);
}
