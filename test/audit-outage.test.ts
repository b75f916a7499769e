import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { rowPayload } from '../src/training/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { registerDemo, serveEnv, startServeProcess, type ServeProcess } from './helpers/serve-process.js';
import { TOKEN } from './helpers/server.js';
import { ThrowawayPostgres } from './helpers/throwaway-pg.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OUTAGE_MS = 8_000;

/**
 * PostgreSQL restarted under load, counted: 8 clients infer while the database goes away and
 * comes back. Versions already loaded keep serving (zero failed inferences), audit records spill
 * and replay, registry polling recovers (a version promoted after the restart is served), and a
 * SIGTERM during a second outage exits 0 with the queue on disk, replayed by the next server:
 * every 200 any server answered has its record in the database at the end, and no other does.
 */
describe('PostgreSQL restarted under load, and SIGTERM during an outage', () => {
  let db: ThrowawayPostgres;
  let server: ServeProcess;
  let next: ServeProcess | undefined;
  const demo = demoModel();
  const dataDir = tempDir();
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await ThrowawayPostgres.create();
    env = serveEnv(dataDir, { DATABASE_URL: db.url, AUDIT_FLUSH_MS: '100', CACHE_MAX_ITEMS: '0', RELOAD_INTERVAL_MS: '500' });
    await registerDemo(env);
    server = await startServeProcess(env);
  }, 60_000);
  afterAll(() => {
    server?.child.kill('SIGKILL');
    next?.child.kill('SIGKILL');
    db?.destroy();
  });

  it('serves through it, follows the registry again, spills, and loses nothing across SIGTERM and a restart', async () => {
    const served = new Set<string>();
    const versions = new Map<number, number>();
    const failures: string[] = [];
    let stop = false;
    let terminating = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const body = JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, (c * 97 + i) % 400), event_id: `c${c}-${i}` });
        try {
          const res = await fetch(`${server.url}/v1/infer`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
          const json = (await res.json()) as { prediction_id?: string; version?: number };
          if (res.status === 200 && json.prediction_id) {
            served.add(json.prediction_id);
            versions.set(json.version!, (versions.get(json.version!) ?? 0) + 1);
          } else failures.push(`${res.status} ${JSON.stringify(json)}`);
        } catch (e) {
          // After SIGTERM the server stops accepting connections: those requests were never accepted.
          if (!terminating) failures.push(String(e));
        }
        await sleep(5);
      }
    };
    // Created now, so a server that dies early is seen, not waited on forever.
    const exited = new Promise<number | null>((r) => server.child.once('exit', (code) => r(code)));
    const clients = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(client));
    await sleep(3000);
    const beforeOutage = served.size;
    db.stop();
    await sleep(OUTAGE_MS);
    const duringOutage = served.size - beforeOutage;
    db.start();
    await sleep(3000);

    // Registry polling recovered: a version promoted now is served within a few polls.
    const ctx = await openContext(loadConfig(env), createLogger('silent'));
    try {
      await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
      await ctx.registry.promote({ model: 'hotel', target: 'production', version: 2, actor: 't' });
    } finally {
      await ctx.close();
    }
    for (const until = Date.now() + 30_000; !versions.get(2) && Date.now() < until;) await sleep(100);
    expect(versions.get(2), 'version 2 served after the restart').toBeGreaterThan(0);

    // A second outage, and SIGTERM during it: in-flight requests are answered, the queue goes to disk.
    db.stop();
    await sleep(2000);
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
    const spilled = readdirSync(path.join(dataDir, 'audit-spill')).filter((f) => f.startsWith('spill-'));
    expect(spilled.length, 'the queue was written to a spill file at SIGTERM').toBeGreaterThan(0);
    // Audited features: not for other users of the host (the umask may take more away).
    for (const f of spilled) expect(statSync(path.join(dataDir, 'audit-spill', f)).mode & 0o007).toBe(0);
    expect(statSync(path.join(dataDir, 'audit-spill')).mode & 0o007).toBe(0);
    // Its last line says so, with the records on disk (counted here from the files themselves), not "audit log written".
    const onDisk = spilled.reduce(
      (n, f) =>
        n +
        readFileSync(path.join(dataDir, 'audit-spill', f), 'utf8')
          .split('\n')
          .filter(Boolean).length,
      0,
    );
    const last = server
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"stopped:'))
      .map((l) => JSON.parse(l) as { msg: string; audit_records_on_disk?: number });
    expect(last).toHaveLength(1);
    expect(last[0].audit_records_on_disk).toBe(onDisk);
    expect(last[0].msg).toContain(`${onDisk} audit records the database refused wait in`);
    expect(last[0].msg).toContain(path.join(dataDir, 'audit-spill'));
    expect(last[0].msg).not.toContain('audit log written');

    // The database is back; the next server on the same data directory replays the spill.
    db.start();
    next = await startServeProcess(env);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      let stored = new Set<string>();
      for (const until = Date.now() + 30_000; Date.now() < until; await sleep(200)) {
        stored = new Set((await c.query<{ id: string }>('select id from predictions')).rows.map((r) => r.id));
        if ([...served].every((id) => stored.has(id))) break;
      }
      const missing = [...served].filter((id) => !stored.has(id));
      expect({ served: served.size, stored: stored.size, missing: missing.length }).toEqual({ served: served.size, stored: served.size, missing: 0 });
    } finally {
      await c.end();
    }
  }, 180_000);
});
