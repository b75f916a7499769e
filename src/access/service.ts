import { randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { parseInstant } from '../lib/instant.js';
import { AppError } from '../lib/errors.js';
import { MAX_GRACE_MS, parseDuration } from '../lib/duration.js';
import { SCOPES, type Scope } from './credentials.js';
import { parseRate, type Rate } from './rate.js';
import type { AccessStore, ApiKeyRecord } from './store.js';
import { generateToken, hashToken, tokenPrefix } from './token.js';

/** What callers see of a key: never a token or a hash. */
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  rate_limit: string | null;
  status: 'active' | 'expired' | 'revoked';
  expires_at: string | null;
  created_at: string;
  created_by: string;
  rotated_at: string | null;
  rotated_by: string | null;
  /** After a rotation: until when the previous token is still accepted. */
  previous_valid_until: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

export interface CreateKeyInput {
  name: string;
  scopes: string[];
  /** e.g. 100/s; default: RATE_LIMIT_DEFAULT. */
  rate?: string;
  /** Lifetime (90d) or the time it ends (2027-06-30, 2027-06-30T18:00:00Z); default: never expires. */
  expires?: string;
  actor: string;
}

/**
 * When a key made now with this `expires` ends: a lifetime (90d) or a time (an ISO 8601 date,
 * midnight UTC, or date and time). A key that would be born expired is refused, not made.
 */
export function expiryOf(text: string, at: Date): Date {
  const t = text.trim();
  const expected = `expected a lifetime such as 90d or a time such as 2027-06-30 or 2027-06-30T18:00:00Z, got ${JSON.stringify(text)}`;
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = parseInstant(t, 'expires').getTime();
    if (ms <= at.getTime()) throw new AppError('VALIDATION_FAILED', `expires: ${new Date(ms).toISOString()} is not in the future (now ${at.toISOString()})`, { field: 'expires' });
    return new Date(ms);
  }
  if (!/^[0-9.]+[a-z]+$/.test(t)) throw new AppError('VALIDATION_FAILED', `expires: ${expected}`, { field: 'expires' });
  const ms = parseDuration(t, 'expires');
  if (ms <= 0)
    throw new AppError(
      'VALIDATION_FAILED',
      `expires: a lifetime of ${JSON.stringify(text)} would make a key that is expired already; give a longer one, or leave expires out for a key that never expires`,
      { field: 'expires' },
    );
  return new Date(at.getTime() + ms);
}

export function createAccessService(deps: { store: AccessStore; clock: Clock }) {
  const { store, clock } = deps;
  const now = () => clock.now();

  const statusOf = (r: ApiKeyRecord): ApiKey['status'] => (r.revoked_at ? 'revoked' : r.expires_at && Date.parse(r.expires_at) <= now().getTime() ? 'expired' : 'active');

  const view = (r: ApiKeyRecord): ApiKey => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    rate_limit: r.rate_limit,
    status: statusOf(r),
    expires_at: r.expires_at,
    created_at: r.created_at,
    created_by: r.created_by,
    rotated_at: r.rotated_at,
    rotated_by: r.rotated_by,
    previous_valid_until: r.previous_sha256 && r.previous_expires_at && Date.parse(r.previous_expires_at) > now().getTime() ? r.previous_expires_at : null,
    revoked_at: r.revoked_at,
    revoked_by: r.revoked_by,
    last_used_at: r.last_used_at,
  });

  function parseScopes(given: string[]): Scope[] {
    const scopes = [...new Set(given.map((s) => s.trim()).filter(Boolean))];
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (unknown.length) throw new AppError('VALIDATION_FAILED', `scopes: unknown ${unknown.join(', ')}; choose from ${SCOPES.join(', ')}`, { field: 'scopes' });
    if (!scopes.length) throw new AppError('VALIDATION_FAILED', `scopes: give at least one of ${SCOPES.join(', ')}`, { field: 'scopes' });
    return scopes as Scope[];
  }

  async function mustGet(id: string): Promise<ApiKeyRecord> {
    const r = await store.get(id);
    if (!r) throw new AppError('NOT_FOUND', `no API key ${id}; modelgate keys list shows them`, { id });
    return r;
  }

  return {
    async create(input: CreateKeyInput): Promise<{ key: ApiKey; token: string }> {
      const name = input.name.trim();
      if (!name || name.length > 100) throw new AppError('VALIDATION_FAILED', 'name: give a name of 1 to 100 characters (who or what uses the key)', { field: 'name' });
      const scopes = parseScopes(input.scopes);
      const rate = input.rate === undefined ? null : parseRate(input.rate).text;
      const expiresAt = input.expires === undefined ? null : expiryOf(input.expires, now()).toISOString();
      const token = generateToken();
      const record: ApiKeyRecord = {
        id: `key_${randomBytes(8).toString('hex')}`,
        name,
        token_sha256: hashToken(token),
        previous_sha256: null,
        previous_expires_at: null,
        prefix: tokenPrefix(token),
        scopes,
        rate_limit: rate,
        expires_at: expiresAt,
        created_at: now().toISOString(),
        created_by: input.actor,
        rotated_at: null,
        rotated_by: null,
        revoked_at: null,
        revoked_by: null,
        last_used_at: null,
      };
      await store.insert(record);
      return { key: view(record), token };
    },

    async list(): Promise<ApiKey[]> {
      return (await store.list()).map(view);
    },

    async get(id: string): Promise<ApiKey> {
      return view(await mustGet(id));
    },

    async revoke(id: string, actor: string): Promise<ApiKey> {
      const r = await mustGet(id);
      if (r.revoked_at) throw new AppError('CONFLICT', `API key ${id} was already revoked at ${r.revoked_at} by ${r.revoked_by}`, { id });
      const patch = { revoked_at: now().toISOString(), revoked_by: actor };
      if (!(await store.update(id, r.token_sha256, patch))) throw new AppError('CONFLICT', `API key ${id} changed while revoking it; run the command again`, { id });
      return view({ ...r, ...patch });
    },

    /**
     * A new token for the same key (same id, scopes and limits). The old token keeps working
     * for graceMs, so callers can switch without an outage; a second rotation within the grace
     * ends the first old token's grace at once.
     */
    async rotate(id: string, graceMs: number, actor: string): Promise<{ key: ApiKey; token: string }> {
      if (!Number.isFinite(graceMs) || graceMs < 0 || graceMs > MAX_GRACE_MS) throw new AppError('VALIDATION_FAILED', 'grace: expected a duration from 0s to 30d', { field: 'grace' });
      const r = await mustGet(id);
      if (r.revoked_at) throw new AppError('CONFLICT', `API key ${id} is revoked; create a new key instead`, { id });
      if (statusOf(r) === 'expired') throw new AppError('CONFLICT', `API key ${id} expired at ${r.expires_at}; create a new key instead`, { id });
      const token = generateToken();
      const at = now();
      const patch = {
        token_sha256: hashToken(token),
        prefix: tokenPrefix(token),
        previous_sha256: graceMs > 0 ? r.token_sha256 : null,
        previous_expires_at: graceMs > 0 ? new Date(at.getTime() + graceMs).toISOString() : null,
        rotated_at: at.toISOString(),
        rotated_by: actor,
      };
      if (!(await store.update(id, r.token_sha256, patch, { hash: r.token_sha256, at: at.toISOString() })))
        throw new AppError('CONFLICT', `API key ${id} was rotated by someone else meanwhile; run the command again`, { id });
      return { key: view({ ...r, ...patch }), token };
    },

    /** The rate a key is held to: its own, else the default; a key with neither is not limited (CONFLICT). */
    async rateFor(id: string, defaultRate: string | undefined): Promise<Rate> {
      const key = await mustGet(id);
      const text = key.rate_limit ?? defaultRate;
      if (!text) throw new AppError('CONFLICT', `API key ${id} has no rate limit (no rate of its own and no RATE_LIMIT_DEFAULT)`, { id });
      return parseRate(text);
    },

    /** For authentication: the stored key a token hash belongs to. */
    lookup: (hash: string) => store.byHash(hash),
    revision: () => store.revision(),
    touch: (used: Map<string, string>) => store.touch(used),
  };
}

export type AccessService = ReturnType<typeof createAccessService>;
