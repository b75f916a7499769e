import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { rowPayload } from '../src/training/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { TOKEN } from './helpers/server.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OUTAGE_MS = 30_000;

/**
 * Zero audit records lost across a 30-second PostgreSQL outage and a SIGTERM, counted: every
 * 200 the server answered has its record in the database at the end, and no other record is.
 */
describe('audit log across a PostgreSQL outage and SIGTERM', () => {
  let db: ThrowawayPostgres;
  let server: ServeProcess;
  const demo = demoModel();
  const dataDir = tempDir();
  beforeAll(async () => {
    db = await ThrowawayPostgres.create();
    const env = { DATABASE_URL: db.url, MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: TOKEN };
    const ctx = await openContext(loadConfig(env), createLogger('silent'));
    await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await ctx.close();
    server = await startServeProcess({ PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', AUDIT_FLUSH_MS: '100', CACHE_MAX_ITEMS: '0' });
  }, 60_000);
  afterAll(() => {
    server?.child.kill('SIGKILL');
    db?.destroy();
  });

  it('serves through the outage, spills, replays, and loses nothing on SIGTERM', async () => {
    const served = new Set<string>();
    const failures: string[] = [];
    let stop = false;
    let terminating = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const body = JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, (c * 97 + i) % 400), event_id: `c${c}-${i}` });
        try {
          const res = await fetch(`${server.url}/v1/infer`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
          const json = (await res.json()) as { prediction_id?: string };
          if (res.status === 200 && json.prediction_id) served.add(json.prediction_id);
          else failures.push(`${res.status} ${JSON.stringify(json)}`);
        } catch (e) {
          // After SIGTERM the server stops accepting connections: those requests were never accepted.
          if (!terminating) failures.push(String(e));
        }
        await sleep(5);
      }
    };
    // Created now, so a server that dies early is seen, not waited on forever.
    const exited = new Promise<number | null>((r) => server.child.once('exit', (code) => r(code)));
    const clients = Promise.all([0, 1, 2, 3].map(client));
    await sleep(3000);
    const beforeOutage = served.size;
    db.stop();
    await sleep(OUTAGE_MS);
    const duringOutage = served.size - beforeOutage;
    db.start();
    await sleep(5000);
    // SIGTERM under load: in-flight requests are answered, then the queue is written.
    terminating = true;
    if (server.child.exitCode !== null) stop = true;
    expect(server.child.exitCode, 'the server died before SIGTERM').toBeNull();
    server.child.kill('SIGTERM');
    const exit = await exited;
    stop = true;
    await clients;
    expect(exit).toBe(0);
    expect(failures).toEqual([]);
    expect(duringOutage).toBeGreaterThan(500); // it kept serving while the database was down
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ id: string }>('select id from predictions');
      const stored = new Set(rows.map((r) => r.id));
      const missing = [...served].filter((id) => !stored.has(id));
      expect({ served: served.size, stored: stored.size, missing: missing.length }).toEqual({ served: served.size, stored: served.size, missing: 0 });
    } finally {
      await c.end();
    }
  }, 120_000);
});
