import type { Selectable } from 'kysely';
import { bumpRevision, fromJson, readRevision, toIso, toIsoOrNull, type ApiKeysTable, type Db } from '../db/index.js';
import type { Scope } from './credentials.js';

/** A key as stored, hashes included: never leaves the server. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  token_sha256: string;
  previous_sha256: string | null;
  previous_expires_at: string | null;
  prefix: string;
  scopes: Scope[];
  rate_limit: string | null;
  expires_at: string | null;
  created_at: string;
  created_by: string;
  rotated_at: string | null;
  rotated_by: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

const out = (r: Selectable<ApiKeysTable>): ApiKeyRecord => ({
  ...r,
  scopes: fromJson<Scope[]>(r.scopes),
  previous_expires_at: toIsoOrNull(r.previous_expires_at),
  expires_at: toIsoOrNull(r.expires_at),
  created_at: toIso(r.created_at),
  rotated_at: toIsoOrNull(r.rotated_at),
  revoked_at: toIsoOrNull(r.revoked_at),
  last_used_at: toIsoOrNull(r.last_used_at),
});

export function createAccessStore(db: Db) {
  const k = db.kysely;
  return {
    async insert(r: ApiKeyRecord): Promise<void> {
      await k.transaction().execute(async (tx) => {
        await bumpRevision(tx, 'access_revision');
        await tx
          .insertInto('api_keys')
          .values({ ...r, scopes: JSON.stringify(r.scopes) })
          .execute();
      });
    },

    async list(): Promise<ApiKeyRecord[]> {
      return (await k.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(out);
    },

    async get(id: string): Promise<ApiKeyRecord | undefined> {
      const r = await k.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      return r && out(r);
    },

    /** The key a token hash belongs to, as its current, its previous or any older (replaced) token. */
    async byHash(hash: string): Promise<ApiKeyRecord | undefined> {
      const r = await k
        .selectFrom('api_keys')
        .selectAll()
        .where((eb) =>
          eb.or([eb('token_sha256', '=', hash), eb('previous_sha256', '=', hash), eb('id', 'in', eb.selectFrom('api_key_replaced_tokens').select('key_id').where('token_sha256', '=', hash))]),
        )
        .executeTakeFirst();
      return r && out(r);
    },

    /**
     * Compare-and-set on the current hash, so two concurrent rotations cannot both win. With
     * `replaced`, that token hash is remembered as replaced (a rotation), so it is told apart
     * from a token that never existed.
     */
    async update(id: string, expectedHash: string, patch: Partial<Omit<ApiKeyRecord, 'id' | 'scopes'>>, replaced?: { hash: string; at: string }): Promise<boolean> {
      return k.transaction().execute(async (tx) => {
        await bumpRevision(tx, 'access_revision');
        const r = await tx.updateTable('api_keys').set(patch).where('id', '=', id).where('token_sha256', '=', expectedHash).executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) return false;
        if (replaced)
          await tx
            .insertInto('api_key_replaced_tokens')
            .values({ token_sha256: replaced.hash, key_id: id, replaced_at: replaced.at })
            .onConflict((oc) => oc.doNothing())
            .execute();
        return true;
      });
    },

    /** last_used_at for many keys at once; no revision bump (nothing about access changed). */
    async touch(used: Map<string, string>): Promise<void> {
      for (const [id, at] of used) await k.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
    },

    revision: () => readRevision(k, 'access_revision'),
  };
}

export type AccessStore = ReturnType<typeof createAccessStore>;
