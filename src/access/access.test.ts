import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDb, freshDb, DIALECTS } from '../../test/helpers/db.js';
import { migrate, openDb, type Db } from '../db/index.js';
import { createAccessService, createAccessStore, type AccessService } from './index.js';
import { parseRate } from './rate.js';
import { classifyToken, generateToken, hashToken, TOKEN_LENGTH } from './token.js';

describe('API key tokens', () => {
  it('have the mg_ prefix, 32 random bytes of base62 and a checksum', () => {
    const tokens = Array.from({ length: 200 }, generateToken);
    for (const t of tokens) {
      expect(t).toMatch(/^mg_[0-9A-Za-z]{49}$/);
      expect(t).toHaveLength(TOKEN_LENGTH);
      expect(classifyToken(t)).toBe('ours');
    }
    expect(new Set(tokens).size).toBe(200);
    // 43 base62 characters hold 256 bits: 62^43 > 2^256.
    expect(43 * Math.log2(62)).toBeGreaterThan(256);
  });

  it('a single mistyped character or a cut-off token fails the checksum before any lookup', () => {
    const t = generateToken();
    let caught = 0;
    for (let i = 3; i < t.length; i++) {
      const swapped = t.slice(0, i) + (t[i] === 'a' ? 'b' : 'a') + t.slice(i + 1);
      if (classifyToken(swapped) === 'mistyped') caught++;
    }
    expect(caught).toBe(t.length - 3);
    expect(classifyToken(t.slice(0, -1))).toBe('mistyped');
    expect(classifyToken('test-admin-token-0123456789abcdef')).toBe('foreign');
  });

  it('keep the checksum format tokens were issued with (vectors computed with Python hashlib)', () => {
    // checksum = base62 of the first 4 bytes of SHA-256(body), big-endian, 6 characters.
    expect(classifyToken('mg_LP2djHjILIjS8k6fWLyUBdkBQMhiLQm2FohATWPSRDR3Tfj9t')).toBe('ours');
    expect(classifyToken('mg_00000000000000000000000000000000000000000003O9xIA')).toBe('ours');
    expect(classifyToken('mg_00000000000000000000000000000000000000000003O9xIB')).toBe('mistyped');
  });

  it('is stored as its SHA-256 only', () => {
    const t = generateToken();
    expect(hashToken(t)).toBe(createHash('sha256').update(t).digest('hex'));
  });

  it('rates parse to requests per window, and bad ones say what is expected', () => {
    expect(parseRate('100/s')).toEqual({ limit: 100, windowMs: 1000, text: '100/s' });
    expect(parseRate('6000/m')).toMatchObject({ limit: 6000, windowMs: 60_000 });
    expect(parseRate('20/10s')).toMatchObject({ limit: 20, windowMs: 10_000 });
    for (const bad of ['100', '0/s', '-1/s', '100/fortnight', '100/10ms', 'lots']) expect(() => parseRate(bad)).toThrow(/requests per window|window must be/);
  });
});

for (const dialect of DIALECTS) {
  describe(`API key service on ${dialect}`, () => {
    const loc = freshDb(dialect);
    let db: Db;
    let access: AccessService;
    let t = Date.parse('2026-11-01T00:00:00Z');
    const clock = { now: () => new Date(t) };
    beforeAll(async () => {
      db = await openDb(loc);
      await migrate(db);
      access = createAccessService({ store: createAccessStore(db), clock });
    });
    afterAll(async () => {
      await db.close();
      await dropDb(loc);
    });

    it('creates keys; listings and lookups never carry the token', async () => {
      const { key, token } = await access.create({ name: 'checkout', scopes: ['infer', 'read', 'infer'], rate: '100/s', expires: '90d', actor: 'tester' });
      expect(key).toMatchObject({ name: 'checkout', scopes: ['infer', 'read'], rate_limit: '100/s', status: 'active', created_by: 'tester', expires_at: '2027-01-30T00:00:00.000Z' });
      expect(key.prefix).toBe(token.slice(0, 9));
      const listed = JSON.stringify(await access.list());
      expect(listed).not.toContain(token);
      expect(listed).not.toContain(hashToken(token));
      const rec = await access.lookup(hashToken(token));
      expect(rec?.id).toBe(key.id);
      expect(JSON.stringify(rec)).not.toContain(token);
    });

    it('refuses bad input with messages that say what to do', async () => {
      await expect(access.create({ name: 'x', scopes: ['infer', 'root'], actor: 'a' })).rejects.toThrow(/unknown root; choose from read, infer, feedback, admin/);
      await expect(access.create({ name: 'x', scopes: [], actor: 'a' })).rejects.toThrow(/at least one/);
      await expect(access.create({ name: '  ', scopes: ['infer'], actor: 'a' })).rejects.toThrow(/name/);
      await expect(access.create({ name: 'x', scopes: ['infer'], rate: 'fast', actor: 'a' })).rejects.toThrow(/100\/s/);
      await expect(access.create({ name: 'x', scopes: ['infer'], expires: 'soon', actor: 'a' })).rejects.toThrow(/expected a lifetime such as 90d/);
      await expect(access.revoke('key_missing', 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('rotation keeps the id and accepts the old token until the grace ends', async () => {
      const { key, token: old } = await access.create({ name: 'rotating', scopes: ['infer'], actor: 'a' });
      const r = await access.rotate(key.id, 3_600_000, 'ops');
      expect(r.key).toMatchObject({ id: key.id, rotated_by: 'ops', previous_valid_until: new Date(t + 3_600_000).toISOString() });
      expect(r.token).not.toBe(old);
      const byOld = await access.lookup(hashToken(old));
      expect(byOld).toMatchObject({ id: key.id, previous_sha256: hashToken(old) });
      expect((await access.lookup(hashToken(r.token)))?.token_sha256).toBe(hashToken(r.token));
      t += 3_600_001;
      expect((await access.get(key.id)).previous_valid_until).toBeNull();
      // Zero grace: the old token ends at once.
      const r2 = await access.rotate(key.id, 0, 'ops');
      expect(r2.key.previous_valid_until).toBeNull();
      // Still known (so a caller hears it was replaced), but neither its current nor a token in grace.
      const stale = await access.lookup(hashToken(r.token));
      expect(stale?.id).toBe(key.id);
      expect(stale?.token_sha256).not.toBe(hashToken(r.token));
      expect(stale?.previous_sha256).toBeNull();
    });

    it('revocation is final: a second revoke or a rotation is a conflict', async () => {
      const { key } = await access.create({ name: 'leaked', scopes: ['admin'], actor: 'a' });
      const rev = await access.revoke(key.id, 'ops');
      expect(rev).toMatchObject({ status: 'revoked', revoked_by: 'ops' });
      await expect(access.revoke(key.id, 'ops')).rejects.toMatchObject({ code: 'CONFLICT' });
      await expect(access.rotate(key.id, 1000, 'ops')).rejects.toMatchObject({ code: 'CONFLICT' });
    });

    it('expired keys show as expired and cannot be rotated', async () => {
      const { key } = await access.create({ name: 'short', scopes: ['read'], expires: '1h', actor: 'a' });
      t += 3_600_000;
      expect((await access.get(key.id)).status).toBe('expired');
      await expect(access.rotate(key.id, 1000, 'ops')).rejects.toThrow(/expired/);
    });

    it('every change moves the access revision, so other replicas drop their caches', async () => {
      const before = await access.revision();
      const { key } = await access.create({ name: 'rev', scopes: ['infer'], actor: 'a' });
      await access.revoke(key.id, 'a');
      expect(await access.revision()).toBe(before + 2);
    });

    it('records last use in one write per key', async () => {
      const { key } = await access.create({ name: 'used', scopes: ['infer'], actor: 'a' });
      await access.touch(new Map([[key.id, '2026-11-02T10:00:00.000Z']]));
      expect((await access.get(key.id)).last_used_at).toBe('2026-11-02T10:00:00.000Z');
    });
  });
}
