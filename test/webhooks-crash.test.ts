import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { verify } from '../src/webhooks/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { TOKEN } from './helpers/server.js';

const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) => {
  const until = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('webhook delivery survives SIGKILL mid-delivery', () => {
  const children: ServeProcess[] = [];
  afterAll(() => {
    for (const c of children) c.child.kill('SIGKILL');
  });

  it('every event is delivered at least once, with valid signatures, after the server is killed while receivers hang', async () => {
    const demo = demoModel();
    const dir = tempDir();
    const env = {
      ...process.env,
      MODELGATE_DATA_DIR: dir,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: `sqlite:${path.join(dir, 'modelgate.db')}`,
      MODELGATE_ADMIN_TOKEN: TOKEN,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      WEBHOOK_TICK_MS: '100',
      WEBHOOK_TIMEOUT_MS: '60000',
      MONITOR_TICK_MS: '3600000',
    } as Record<string, string>;

    // The receiver holds every request open until told to answer.
    let answering = false;
    const held: ServerResponse[] = [];
    const got: { id: string; ts: number; sig: string; body: string; answered: boolean }[] = [];
    const rx = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push({ id: String(req.headers['webhook-id']), ts: Number(req.headers['webhook-timestamp']), sig: String(req.headers['webhook-signature']), body, answered: answering });
        if (answering) res.writeHead(200).end();
        else held.push(res);
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;

    const ctx = await openContext(loadConfig(env), createLogger('silent'));
    try {
      const { secret } = (await ctx.webhooks.add({ url, actor: 'test' })) as { secret: string };
      await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
      await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });

      const first = await startServeProcess(env);
      children.push(first);
      await waitFor('three deliveries in flight', () => new Set(got.map((g) => g.id)).size === 3);
      const cutOff = new Set(got.map((g) => g.id));
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      for (const r of held) r.destroy();

      // More events while no server runs: they wait in the outbox.
      await ctx.registry.promote({ model: 'hotel', target: 'production', version: 2, actor: 't' });
      await ctx.registry.rollback({ model: 'hotel', actor: 't' });
      answering = true;
      const second = await startServeProcess(env);
      children.push(second);
      const events = (await ctx.db.kysely.selectFrom('webhook_outbox').select(['id', 'type']).where('type', 'like', 'model.%').execute()).map((e) => e.id);
      expect(events).toHaveLength(5);
      await waitFor('every event answered 200', () => events.every((id) => got.some((g) => g.id === id && g.answered)));
      await waitFor('deliveries recorded', async () => (await ctx.db.kysely.selectFrom('webhook_deliveries').select('status').where('status', '!=', 'delivered').execute()).length === 0);
      second.child.kill('SIGTERM');

      // The three cut off by the kill came twice, with the same webhook-id; all signatures verify.
      const times = (id: string) => got.filter((g) => g.id === id).length;
      expect(events.map((id) => times(id)).sort()).toEqual([1, 1, 2, 2, 2]);
      for (const id of cutOff) expect(times(id)).toBe(2);
      for (const g of got) expect(verify(secret, g.id, g.ts, g.body, g.sig)).toBe(true);
      expect(got.map((g) => JSON.parse(g.body).type).sort()).toEqual(expect.arrayContaining(['model.registered', 'model.promoted', 'model.rolled_back']));
    } finally {
      await ctx.close();
      rx.closeAllConnections();
      rx.close();
    }
  }, 90_000);
});
