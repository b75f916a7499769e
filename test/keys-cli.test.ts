import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('modelgate keys (CLI)', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  let s: TestServer;
  beforeAll(async () => {
    // A server on the same SQLite file, to prove CLI-made keys authenticate.
    s = await startTestServer({ db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') }, dataDir: dir });
  });
  afterAll(() => s?.stop());

  const models = (token: string) => s.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${token}` } });

  it('create prints the token once; the server accepts it; list never shows it', async () => {
    const c = await runCli(['keys', 'create', '--name', 'dash', '--scopes', 'read', '--rate', '50/s', '--expires', '30d', '--json'], env);
    expect(c.code, c.stderr).toBe(0);
    const { key, token } = c.json();
    expect(key).toMatchObject({ name: 'dash', scopes: ['read'], rate_limit: '50/s', status: 'active', created_by: 'cli:tester' });
    expect(token).toMatch(/^mg_/);
    expect((await models(token)).statusCode).toBe(200);
    const list = await runCli(['keys', 'list', '--json'], env);
    expect(list.json().keys.map((k: { id: string }) => k.id)).toContain(key.id);
    expect(list.stdout).not.toContain(token);
    const text = await runCli(['keys', 'list'], env);
    expect(text.stdout).toMatch(/dash\s+mg_\w{6}\s+read\s+50\/s\s+active/);
  });

  it("list shows until when a rotated key's old token still works, while it does", async () => {
    const { key } = (await runCli(['keys', 'create', '--name', 'graceful', '--scopes', 'read', '--json'], env)).json();
    const rot = (await runCli(['keys', 'rotate', key.id, '--grace', '24h', '--json'], env)).json();
    const until = rot.key.previous_valid_until as string;
    // 24 hours after the rotation, by the clock of this test (not the code's own figure).
    expect(Math.abs(Date.parse(until) - (Date.parse(rot.key.rotated_at) + 24 * 3_600_000))).toBeLessThan(1000);
    const text = (await runCli(['keys', 'list'], env)).stdout;
    expect(text.split('\n')[0]).toMatch(/\bOLD_TOKEN_UNTIL\b/);
    expect(text).toMatch(new RegExp(`^${key.id}\\s+graceful\\s+mg_\\w{6}\\s+read\\s+-\\s+active\\s+never\\s+${until.replace(/\./g, '\\.')}\\s+never$`, 'm'));
    // Revoked: neither token works, so no grace is shown.
    await runCli(['keys', 'revoke', key.id], env);
    expect((await runCli(['keys', 'list'], env)).stdout).toMatch(new RegExp(`^${key.id}\\s+graceful\\s+mg_\\w{6}\\s+read\\s+-\\s+revoked\\s+never\\s+-\\s+never$`, 'm'));
  });

  it('rotate with no grace, then revoke: each old token stops working', async () => {
    const { key, token } = (await runCli(['keys', 'create', '--name', 'svc', '--scopes', 'read', '--json'], env)).json();
    const rot = await runCli(['keys', 'rotate', key.id, '--grace', '0s', '--json'], env);
    expect(rot.code, rot.stderr).toBe(0);
    const fresh = rot.json().token as string;
    await s.apiKeys.sync();
    expect((await models(token)).statusCode).toBe(401);
    expect((await models(fresh)).statusCode).toBe(200);
    const rev = await runCli(['keys', 'revoke', key.id, '--json'], env);
    expect(rev.json()).toMatchObject({ id: key.id, status: 'revoked', revoked_by: 'cli:tester' });
    await s.apiKeys.sync();
    expect((await models(fresh)).statusCode).toBe(401);
  });

  it('bad input exits 2, an unknown key exits 1, each with a message', async () => {
    const bad = await runCli(['keys', 'create', '--name', 'x', '--scopes', 'infer,root'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown root/);
    const missing = await runCli(['keys', 'revoke', 'key_nope', '--json'], env);
    expect(missing.code).toBe(1);
    expect(missing.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/keys list/) });
    const help = await runCli(['keys', 'create', '--help'], env);
    expect(help.stdout).toMatch(/Examples:\n\s+modelgate keys create --name checkout --scopes infer/);
  });

  it('a key is named by its id, its name or its prefix; a name two live keys share is refused with their ids', async () => {
    const one = (await runCli(['keys', 'create', '--name', 'billing', '--scopes', 'read', '--json'], env)).json();
    // By name: the key created as "billing".
    const rotated = await runCli(['keys', 'rotate', 'billing', '--grace', '0s', '--json'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json().key).toMatchObject({ id: one.key.id, name: 'billing' });
    // By the prefix keys list shows (the rotated token's).
    const byPrefix = await runCli(['keys', 'revoke', rotated.json().key.prefix, '--json'], env);
    expect(byPrefix.json()).toMatchObject({ id: one.key.id, status: 'revoked' });
    // A new key of the same name: the revoked one no longer competes for it.
    const two = (await runCli(['keys', 'create', '--name', 'billing', '--scopes', 'read', '--json'], env)).json();
    expect((await runCli(['keys', 'rotate', 'billing', '--grace', '0s', '--json'], env)).json().key.id).toBe(two.key.id);
    const three = (await runCli(['keys', 'create', '--name', 'billing', '--scopes', 'read', '--json'], env)).json();
    const both = await runCli(['keys', 'revoke', 'billing', '--json'], env);
    expect(both.code).toBe(2);
    expect(both.json().error.message).toBe(`2 API keys are named billing: ${two.key.id} (active), ${three.key.id} (active); give the id`);
  });
});
