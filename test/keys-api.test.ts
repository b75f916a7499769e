import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, freshDb, dropDb } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { rowPayload } from '../src/training/index.js';
import { generateToken } from '../src/access/token.js';

const SERVICE_OLD = 'service-token-old-0123456789';
const SERVICE_NEW = 'service-token-new-0123456789';

for (const dialect of DIALECTS) {
  describe(`API keys over HTTP on ${dialect}`, () => {
    let s: TestServer;
    let t = Date.parse('2026-11-01T00:00:00Z');
    const clock = { now: () => new Date(t) };
    const demo = demoModel();
    const row = rowPayload(demo.holdout.data, 0);

    beforeAll(async () => {
      s = await startTestServer({ dialect, clock, env: { MODELGATE_SERVICE_TOKENS: `${SERVICE_OLD}, ${SERVICE_NEW}` } });
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
    });
    afterAll(() => s?.stop());

    const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string | undefined, body?: unknown) =>
      s.app.inject({
        method,
        url,
        headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
    const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => call(method, url, s.auth.authorization.slice(7), body);
    const infer = (token: string | undefined) => call('POST', '/v1/infer', token, { model: 'hotel', payload: row });
    const create = async (body: Record<string, unknown>) => {
      const res = await admin('POST', '/v1/keys', body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { key: { id: string; scopes: string[] }; token: string };
    };
    const errorOf = (res: { statusCode: number; json(): unknown }) => ({ status: res.statusCode, ...(res.json() as { error: { code: string; message: string } }).error });

    it('a key with the infer scope scores; one without it gets 403, not 401', async () => {
      const inferKey = await create({ name: 'checkout', scopes: ['infer'] });
      expect((await infer(inferKey.token)).statusCode).toBe(200);
      const readKey = await create({ name: 'dashboard', scopes: ['read'] });
      // Which key, what it has, and how to get the scope.
      expect(errorOf(await infer(readKey.token))).toMatchObject({
        status: 403,
        code: 'FORBIDDEN',
        message: 'the API key dashboard lacks the infer scope this route needs (it has read); use a key with it (modelgate keys create --scopes infer) or ask an admin',
      });
      expect((await call('GET', '/v1/models', readKey.token)).statusCode).toBe(200);
      // infer does not open admin routes either.
      expect(errorOf(await call('GET', '/v1/keys', inferKey.token))).toMatchObject({ status: 403 });
    });

    it('whoami answers any valid credential with what it may do (the console signs in with it), and 401 for anything else', async () => {
      const k = await create({ name: 'scorer', scopes: ['infer'] });
      const me = await call('GET', '/v1/whoami', k.token);
      expect(me.statusCode).toBe(200);
      expect(me.json()).toEqual({ id: k.key.id, kind: 'api-key', name: 'scorer', scopes: ['infer'] });
      expect((await admin('GET', '/v1/whoami')).json()).toMatchObject({ id: 'admin-token', kind: 'admin-token', name: null, scopes: expect.arrayContaining(['admin', 'read']) as unknown });
      expect(errorOf(await call('GET', '/v1/whoami', undefined))).toMatchObject({ status: 401 });
      expect(errorOf(await call('GET', '/v1/whoami', 'mg_bogus'))).toMatchObject({ status: 401 });
    });

    it('admin implies every other scope', async () => {
      const k = await create({ name: 'ops', scopes: ['admin'] });
      expect((await infer(k.token)).statusCode).toBe(200);
      expect((await call('GET', '/v1/keys', k.token)).statusCode).toBe(200);
    });

    it('missing, malformed, unknown and mistyped credentials are 401 with a message that says which', async () => {
      expect(errorOf(await infer(undefined))).toMatchObject({ status: 401, message: expect.stringMatching(/missing credentials/) });
      expect(errorOf(await call('POST', '/v1/infer', undefined, { model: 'hotel', payload: row }))).toMatchObject({ status: 401 });
      const malformed = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: 'Basic abc', 'content-type': 'application/json' }, payload: '{}' });
      // The scheme it sent is named (not its credentials, which would be logged), with what to send instead.
      expect(errorOf(malformed)).toMatchObject({ status: 401, message: 'Authorization: Basic is not accepted here; send the token as Authorization: Bearer <token>' });
      const empty = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: 'Bearer ', 'content-type': 'application/json' }, payload: '{}' });
      expect(errorOf(empty)).toMatchObject({ status: 401, message: 'Authorization: Bearer has no token after it; send Authorization: Bearer <token>' });
      const k = await create({ name: 'typo', scopes: ['infer'] });
      const typo = k.token.slice(0, 10) + (k.token[10] === 'x' ? 'y' : 'x') + k.token.slice(11);
      expect(errorOf(await infer(typo))).toMatchObject({ status: 401, message: expect.stringMatching(/checksum/) });
      expect(errorOf(await infer('mg_' + 'a'.repeat(49)))).toMatchObject({ status: 401 });
      expect(errorOf(await infer('not-a-token-at-all-but-long-enough'))).toMatchObject({ status: 401, message: expect.stringMatching(/invalid token/) });
      // Well-formed (the checksum holds) but made by another server: said so, not "mistyped".
      expect(errorOf(await infer(generateToken()))).toMatchObject({ status: 401, message: expect.stringMatching(/well-formed but unknown to this server: it was made by another modelgate/) });
    });

    it('a revoked key is refused at once by the server that revoked it', async () => {
      const k = await create({ name: 'leaked', scopes: ['infer'] });
      // Twice: the second call finds the key cached (and its token's digest remembered).
      expect((await infer(k.token)).statusCode).toBe(200);
      expect((await infer(k.token)).statusCode).toBe(200);
      const rev = await admin('DELETE', `/v1/keys/${k.key.id}`);
      expect(rev.json()).toMatchObject({ status: 'revoked', revoked_by: 'admin-token' });
      expect(errorOf(await infer(k.token))).toMatchObject({ status: 401, message: expect.stringMatching(/revoked/) });
      expect(errorOf(await admin('DELETE', `/v1/keys/${k.key.id}`))).toMatchObject({ status: 409 });
      expect(errorOf(await admin('DELETE', '/v1/keys/key_nope'))).toMatchObject({ status: 404 });
    });

    it('rotation: both tokens work during the grace, the old one is refused after it', async () => {
      const k = await create({ name: 'rotating', scopes: ['infer'] });
      const rot = await admin('POST', `/v1/keys/${k.key.id}/rotate`, { grace: '1h' });
      expect(rot.statusCode, rot.body).toBe(200);
      const { token: fresh, key } = rot.json() as { token: string; key: { id: string; previous_valid_until: string } };
      expect(key.id).toBe(k.key.id);
      expect(key.previous_valid_until).toBe(new Date(t + 3_600_000).toISOString());
      expect((await infer(k.token)).statusCode).toBe(200);
      expect((await infer(fresh)).statusCode).toBe(200);
      t += 3_600_000 + 1;
      expect(errorOf(await infer(k.token))).toMatchObject({ status: 401, message: expect.stringMatching(/grace period ended/) });
      expect((await infer(fresh)).statusCode).toBe(200);
    });

    it('a token two rotations old, or one rotated with no grace, is refused as replaced, not as unknown', async () => {
      const k = await create({ name: 'twice', scopes: ['infer'] });
      const first = (await admin('POST', `/v1/keys/${k.key.id}/rotate`, { grace: '1h' })).json() as { token: string };
      await admin('POST', `/v1/keys/${k.key.id}/rotate`, { grace: '1h' });
      for (const old of [k.token]) {
        expect(errorOf(await infer(old))).toMatchObject({
          status: 401,
          message: expect.stringMatching(new RegExp(`token of API key ${k.key.id} \\(twice\\) was replaced by a rotation.*use the key's new token`)),
        });
      }
      // The second rotation's grace covers the first rotation's token.
      expect((await infer(first.token)).statusCode).toBe(200);
      const z = await create({ name: 'no-grace', scopes: ['infer'] });
      await admin('POST', `/v1/keys/${z.key.id}/rotate`, { grace: '0s' });
      expect(errorOf(await infer(z.token))).toMatchObject({ status: 401, message: expect.stringMatching(/was replaced by a rotation/) });
    });

    it('an expired key is refused', async () => {
      const k = await create({ name: 'temp', scopes: ['infer'], expires: '2h' });
      expect((await infer(k.token)).statusCode).toBe(200);
      t += 2 * 3_600_000;
      expect(errorOf(await infer(k.token))).toMatchObject({ status: 401, message: expect.stringMatching(/expired/) });
    });

    it('expires takes the time a key ends as well as a lifetime; a key born expired, or a time without a zone, is refused', async () => {
      const at = new Date(t);
      const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 3)).toISOString().slice(0, 10);
      const byDate = await create({ name: 'contract', scopes: ['infer'], expires: day });
      expect((byDate.key as unknown as { expires_at: string }).expires_at).toBe(`${day}T00:00:00.000Z`);
      const byTime = await create({ name: 'contract-2', scopes: ['infer'], expires: '2030-06-30T18:00:00+02:00' });
      expect((byTime.key as unknown as { expires_at: string }).expires_at).toBe('2030-06-30T16:00:00.000Z');
      expect((await infer(byDate.token)).statusCode).toBe(200);
      const saved = t;
      t = Date.parse(`${day}T00:00:00Z`);
      expect(errorOf(await infer(byDate.token))).toMatchObject({ status: 401, message: expect.stringMatching(/expired at/) });
      expect((await infer(byTime.token)).statusCode).toBe(200);
      t = saved;
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], expires: '2020-01-01' }))).toMatchObject({
        status: 400,
        message: expect.stringMatching(/^expires: 2020-01-01T00:00:00.000Z is not in the future/),
      });
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], expires: '2030-06-30T18:00' }))).toMatchObject({
        status: 400,
        message: expect.stringMatching(/has a time but no zone; add Z \(UTC\) or an offset/),
      });
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], expires: '0s' }))).toMatchObject({ status: 400, message: expect.stringMatching(/expired already/) });
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], expires: 'next week' }))).toMatchObject({
        status: 400,
        message: expect.stringMatching(/expected a lifetime such as 90d or a time such as 2027-06-30/),
      });
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], expires: '2030-02-30' }))).toMatchObject({ status: 400 });
    });

    it('bad key requests are 400s that name the field', async () => {
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['root'] }))).toMatchObject({ status: 400 });
      expect(errorOf(await admin('POST', '/v1/keys', { name: 'x', scopes: ['infer'], rate: 'lots' }))).toMatchObject({ status: 400, message: expect.stringMatching(/rate/) });
      expect(errorOf(await admin('POST', '/v1/keys', { scopes: ['infer'] }))).toMatchObject({ status: 400, message: expect.stringMatching(/name/) });
      const k = await create({ name: 'g', scopes: ['infer'] });
      expect(errorOf(await admin('POST', `/v1/keys/${k.key.id}/rotate`, { grace: 'forever' }))).toMatchObject({ status: 400, message: expect.stringMatching(/grace/) });
    });

    it('listings never contain a token; last use is written off the request path', async () => {
      const k = await create({ name: 'listed', scopes: ['infer'] });
      await infer(k.token);
      const before = ((await admin('GET', `/v1/keys/${k.key.id}`)).json() as { last_used_at: string | null }).last_used_at;
      expect(before).toBeNull();
      await s.apiKeys.flushUsage();
      const after = (await admin('GET', `/v1/keys/${k.key.id}`)).json() as { last_used_at: string; prefix: string };
      expect(after.last_used_at).toBe(new Date(t).toISOString());
      const list = (await admin('GET', '/v1/keys')).body;
      expect(list).toContain(k.key.id);
      expect(list).not.toContain(k.token);
      expect(list).toContain(k.token.slice(0, 9));
    });

    it('service tokens from the environment are infer-only, old and new both valid', async () => {
      expect((await infer(SERVICE_OLD)).statusCode).toBe(200);
      expect((await infer(SERVICE_NEW)).statusCode).toBe(200);
      expect(errorOf(await call('GET', '/v1/models', SERVICE_NEW))).toMatchObject({ status: 403 });
      expect(errorOf(await infer(`${SERVICE_NEW}x`))).toMatchObject({ status: 401 });
    });
  });
}

describe('revocation across replicas (one PostgreSQL database)', () => {
  const db = freshDb('postgres');
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer({ db, env: { RELOAD_INTERVAL_MS: '100' } });
    b = await startTestServer({ db, env: { RELOAD_INTERVAL_MS: '100' }, jobs: true });
    const demo = demoModel();
    await a.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await a.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await Promise.all([a.pool.refresh(true), b.pool.refresh(true)]);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dropDb(db);
  });

  it('a key revoked through one server is refused by the other within a poll', async () => {
    const created = await a.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...a.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'shared', scopes: ['read'] }) });
    const { key, token } = created.json() as { key: { id: string }; token: string };
    const read = () => b.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${token}` } });
    expect((await read()).statusCode).toBe(200); // now cached on b
    await a.app.inject({ method: 'DELETE', url: `/v1/keys/${key.id}`, headers: a.auth });
    const start = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - start < 5000) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await read()).statusCode;
    }
    expect(status).toBe(401);
    expect(Date.now() - start).toBeLessThan(2000);
  });
});
