import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { DIALECTS, freshDb, dropDb } from './helpers/db.js';
import { serveDemo, startTestServer, type TestServer } from './helpers/server.js';
import { demoModel } from './helpers/fixtures.js';
import { rowPayload } from '../src/training/index.js';

const OLD = 'admin-token-old-0123456789abcdef';
const NEW = 'admin-token-new-0123456789abcdef';

// A rolling restart that changes the admin token: for a while one replica runs with the old
// Secret and another with the new one. A caller that keeps the old token until the roll is
// over must not be refused by either.
for (const dialect of DIALECTS) {
  describe(`admin token rotation while replicas roll, on ${dialect}`, () => {
    const db = freshDb(dialect);
    let oldPod: TestServer;
    let newPod: TestServer;
    const lines: string[] = [];
    const row = rowPayload(demoModel().holdout.data, 0);

    beforeAll(async () => {
      oldPod = await startTestServer({ db, env: { MODELGATE_ADMIN_TOKEN: OLD } });
      await serveDemo(oldPod);
      newPod = await startTestServer({
        db,
        dataDir: oldPod.dataDir,
        env: { MODELGATE_ADMIN_TOKEN: NEW, MODELGATE_ADMIN_TOKEN_PREVIOUS: OLD, LOG_LEVEL: 'info' },
        log: createLogger('info', { write: (l: string) => lines.push(l) }),
      });
      await newPod.pool.refresh(true);
    });
    afterAll(async () => {
      await newPod?.stop();
      await oldPod?.stop();
      await dropDb(db);
    });

    const call = (s: TestServer, token: string, method: 'GET' | 'POST', url: string, body?: unknown) =>
      s.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    const previousUses = async (s: TestServer) => {
      const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^modelgate_previous_secret_requests_total{secret="MODELGATE_ADMIN_TOKEN_PREVIOUS"} (\d+)/m.exec(text)?.[1] ?? 0);
    };

    it('the old token works on the old and the new replica alike, with every scope', async () => {
      expect(await previousUses(newPod)).toBe(0);
      for (const s of [oldPod, newPod]) {
        expect((await call(s, OLD, 'GET', '/v1/keys')).statusCode).toBe(200);
        expect((await call(s, OLD, 'POST', '/v1/infer', { model: 'hotel', payload: row })).statusCode).toBe(200);
      }
      expect(await previousUses(newPod)).toBe(2); // the two requests on the new replica
    });

    it('the new token works where it is known; a third token nowhere', async () => {
      expect((await call(newPod, NEW, 'GET', '/v1/keys')).statusCode).toBe(200);
      expect((await call(oldPod, NEW, 'GET', '/v1/keys')).statusCode).toBe(401);
      for (const s of [oldPod, newPod]) expect((await call(s, `${OLD}x`, 'GET', '/v1/keys')).statusCode).toBe(401);
    });

    it('changes made with the previous token say so, and its first use is logged once with what to do', async () => {
      const made = await call(newPod, OLD, 'POST', '/v1/keys', { name: 'ci', scopes: ['admin'] });
      expect(made.statusCode, made.body).toBe(201);
      expect((made.json() as { key: { created_by: string } }).key.created_by).toBe('admin-token-previous');
      const byNew = await call(newPod, NEW, 'POST', '/v1/keys', { name: 'ci2', scopes: ['admin'] });
      expect((byNew.json() as { key: { created_by: string } }).key.created_by).toBe('admin-token');
      expect((await call(newPod, OLD, 'GET', '/v1/whoami')).json()).toMatchObject({ id: 'admin-token-previous', kind: 'admin-token' });
      const warned = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.msg.includes('MODELGATE_ADMIN_TOKEN_PREVIOUS'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ level: 'warn', msg: expect.stringContaining('move what sends it to MODELGATE_ADMIN_TOKEN, then unset MODELGATE_ADMIN_TOKEN_PREVIOUS') });
    });
  });
}

describe('MODELGATE_ADMIN_TOKEN_PREVIOUS and service tokens at start', () => {
  const base = { MODELGATE_DATA_DIR: '/tmp/x' };
  it('is refused alone, equal to the admin token, or shared with a service token', () => {
    expect(() => loadConfig({ ...base, MODELGATE_ADMIN_TOKEN_PREVIOUS: OLD, MODELGATE_AUTH: 'off' })).toThrow(/MODELGATE_ADMIN_TOKEN_PREVIOUS is set without MODELGATE_ADMIN_TOKEN/);
    expect(() => loadConfig({ ...base, MODELGATE_ADMIN_TOKEN: OLD, MODELGATE_ADMIN_TOKEN_PREVIOUS: OLD })).toThrow(/is the same as MODELGATE_ADMIN_TOKEN/);
    expect(() => loadConfig({ ...base, MODELGATE_ADMIN_TOKEN: NEW, MODELGATE_ADMIN_TOKEN_PREVIOUS: 'short' })).toThrow(
      /MODELGATE_ADMIN_TOKEN_PREVIOUS=\(5 characters, not shown\): expected at least 16/,
    );
    expect(() => loadConfig({ ...base, MODELGATE_ADMIN_TOKEN: NEW, MODELGATE_SERVICE_TOKENS: `svc-token-0123456789abcdef,${NEW}` })).toThrow(
      /MODELGATE_SERVICE_TOKENS holds the token of MODELGATE_ADMIN_TOKEN/,
    );
    expect(() => loadConfig({ ...base, MODELGATE_ADMIN_TOKEN: NEW, MODELGATE_ADMIN_TOKEN_PREVIOUS: OLD, MODELGATE_SERVICE_TOKENS: ` ${OLD}` })).toThrow(
      /holds the token of MODELGATE_ADMIN_TOKEN_PREVIOUS/,
    );
    expect(loadConfig({ ...base, MODELGATE_ADMIN_TOKEN: NEW, MODELGATE_ADMIN_TOKEN_PREVIOUS: OLD }).MODELGATE_ADMIN_TOKEN_PREVIOUS).toBe(OLD);
  });
});
