import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { FIXTURES } from './helpers/fixtures.js';
import { freePort } from './helpers/redis.js';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';

// A deploy job with an admin key and no database credentials had curl -F, or kubectl exec into a
// pod; `register --server` sends the same registration with the CLI's flags and words.
describe('modelgate register --server', () => {
  let s: TestServer;
  const onnx = path.join(FIXTURES, 'telco_churn.onnx');
  // No DATABASE_URL: the CLI has only the server's address and a token.
  const env = (token?: string) => ({ MODELGATE_DATA_DIR: tempDir(), ...(token ? { MODELGATE_TOKEN: token } : {}) });

  beforeAll(async () => {
    s = await startTestServer({ dialect: 'sqlite', listen: true, jobs: false });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("registers and promotes through the server's API, printed as a registration made here is; --if-changed keeps it", async () => {
    const r = await runCli(['register', '--server', s.url, '--model', 'churn', '--onnx', onnx, '--missing-category', 'missing', '--policy', 'threshold=0.4', '--promote'], env(TOKEN), {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('registered churn version 1\n');
    expect(r.stdout).toContain('  policy    act when score >= 0.4, else none\n');
    expect(r.stdout).toContain('churn version 1 is production (undo with modelgate rollback --model churn)');
    // On the server's database, by the key that sent it.
    const m = await s.ctx.registry.getModel('churn');
    expect(m.aliases).toEqual({ production: 1 });
    expect(m.versions.map((v) => v.created_by)).toEqual(['admin-token']);

    const again = await runCli(
      ['register', '--server', `${s.url}/`, '--model', 'churn', '--onnx', onnx, '--missing-category', 'missing', '--policy', 'threshold=0.4', '--if-changed', '--json'],
      env(TOKEN),
      {
        timeoutMs: 120_000,
      },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.json()).toMatchObject({ model: 'churn', version: 1, unchanged: true, promoted: false });
    expect((await s.ctx.registry.getModel('churn')).versions).toHaveLength(1);
  });

  it("says what is missing or refused, in the server's words, with the local exit codes", async () => {
    const args = ['register', '--server', s.url, '--model', 'refused', '--onnx', onnx, '--missing-category', 'missing'];
    const noToken = await runCli(args, env(), { timeoutMs: 60_000 });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('error: --server signs in with MODELGATE_TOKEN: set it to an admin key');

    const wrong = await runCli(args, env('not-a-token-of-this-server'), { timeoutMs: 60_000 });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`error: ${s.url} refused the registration: invalid token`);
    expect(wrong.stderr).toContain('(sent from MODELGATE_TOKEN)');

    const badPolicy = await runCli([...args, '--policy', 'thresh=2'], env(TOKEN), { timeoutMs: 60_000 });
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toContain(`error: ${s.url} refused the registration: policy: "thresh=2": unknown policy kind "thresh"`);

    const nobody = `http://127.0.0.1:${await freePort()}`;
    const down = await runCli(['register', '--server', nobody, '--model', 'refused', '--onnx', onnx], env(TOKEN), { timeoutMs: 60_000 });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`error: cannot reach the server at ${nobody} (ECONNREFUSED`);
    await expect(s.ctx.registry.getModel('refused')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });
});
