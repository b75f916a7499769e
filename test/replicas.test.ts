import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { openContext } from '../src/server/context.js';
import { rowPayload } from '../src/training/index.js';
import { dropDb, freshDb, tempDir } from './helpers/db.js';
import { faultyModel } from './helpers/faulty-model.js';
import { demoModel } from './helpers/fixtures.js';
import { TOKEN } from './helpers/server.js';
import { startServeProcess } from './helpers/serve-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ANALYSIS_MS = 1000;

/** Three real server processes on one PostgreSQL schema: cluster-wide canary analysis. */
describe('canary across three replicas on PostgreSQL', () => {
  const db = freshDb('postgres');
  if (db.kind !== 'postgres') throw new Error('unreachable');
  const dataDir = tempDir();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: `${db.url}?options=-c%20search_path%3D${db.schema}`,
    MODELGATE_DATA_DIR: dataDir,
    MODELGATE_ADMIN_TOKEN: TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    RELOAD_INTERVAL_MS: '200',
    STATS_FLUSH_INTERVAL_MS: '200',
    ANALYSIS_INTERVAL_MS: String(ANALYSIS_MS),
    CANARY_MIN_REQUESTS: '100',
  };
  const demo = demoModel();
  const replicas: { child: ChildProcess; url: string }[] = [];

  const start = () => startServeProcess(env);

  beforeAll(async () => {
    const ctx = await openContext(loadConfig({ ...env }), createLogger('silent'), { db });
    await ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await ctx.registry.register({ model: 'hotel', onnx: faultyModel(demo.preprocessor, 300), actor: 't' });
    await ctx.registry.register({ model: 'hotel', onnx: faultyModel(demo.preprocessor, 300, 0.4), actor: 't' });
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await ctx.close();
    replicas.push(...(await Promise.all([start(), start(), start()])));
  });
  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await dropDb(db);
  });

  const api = async (url: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  /** Traffic to every live replica: one in ten rows is poison for the faulty canary. */
  const traffic = async (n: number, offset: number) => {
    const live = replicas.filter((r) => r.child.exitCode === null && !r.child.killed);
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const r = live[i % live.length];
        // A distinct row each time (adr), so the model scores it: analysis counts model-scored requests, not cache hits.
        const payload = { ...rowPayload(demo.holdout.data, i % demo.holdout.data.rows), lead_time: i % 10 === 0 ? 500 : 30, adr: 40 + (offset + i) / 1000 };
        return api(r.url, 'POST', '/v1/infer', { model: 'hotel', routing_key: `guest-${offset + i}`, payload }).then((x) => ({ ...x, replica: r.url }));
      }),
    );
    return results;
  };

  const rollbacksFor = async (version: number) =>
    (await api(replicas.find((r) => !r.child.killed)!.url, 'GET', '/v1/rollbacks?model=hotel')).body.rollbacks.filter((r: { canary_version: number }) => r.canary_version === version);

  /** Send traffic until the canary is rolled back; returns the time it took and what callers saw. */
  const untilRolledBack = async (version: number) => {
    const startedAt = Date.now();
    const seen: Awaited<ReturnType<typeof traffic>> = [];
    let round = 0;
    while (Date.now() - startedAt < 20_000) {
      seen.push(...(await traffic(150, round * 1000)));
      round++;
      if ((await rollbacksFor(version)).length) return { ms: Date.now() - startedAt, seen };
      await sleep(100);
    }
    throw new Error('no rollback within 20 s');
  };

  it('a canary started through one replica splits traffic on all three, and a failing canary is rolled back cluster-wide', async () => {
    const started = await api(replicas[0].url, 'POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50 });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    await sleep(600); // the other replicas pick the change up by polling
    const first = await traffic(300, 0);
    for (const r of replicas) {
      const arms = new Set(first.filter((x) => x.replica === r.url && x.status === 200).map((x) => x.body.arm));
      expect([...arms].sort(), r.url).toEqual(['canary', 'production']);
    }
    const { ms, seen } = await untilRolledBack(2);
    // Within two analysis intervals (plus a statistics flush) of the traffic that shows the failure.
    expect(ms).toBeLessThan(2 * ANALYSIS_MS + 1500);
    const failures = [...first, ...seen].filter((x) => x.status !== 200);
    expect(failures.length).toBeGreaterThan(0);
    // Every failed response came from the canary; production served all of its requests.
    expect(failures.every((x) => x.body.error.code === 'INFERENCE_FAILED' && x.body.error.details.arm === 'canary')).toBe(true);
    const [rb] = await rollbacksFor(2);
    expect(rb).toMatchObject({ model: 'hotel', canary_version: 2, production_version: 1, trigger_metric: 'error_rate', rolled_back_by: 'system' });
    expect(rb.observed).toBeGreaterThan(rb.threshold);
    await sleep(600);
    const after = await traffic(150, 50_000);
    expect(after.every((x) => x.status === 200 && x.body.arm === 'production')).toBe(true);
  });

  it('when the leader dies, another replica takes over the analysis and applies the rollback exactly once', async () => {
    // Find the leader: the replica whose metrics show analysis runs as leader.
    const leaderIndex = (await Promise.all(replicas.map(async (r) => /modelgate_rollout_analysis_runs_total\{result="leader"\} [1-9]/.test(await (await fetch(`${r.url}/metrics`)).text())))).indexOf(
      true,
    );
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    replicas[leaderIndex].child.kill('SIGKILL');
    const survivor = replicas.find((_, i) => i !== leaderIndex)!;
    const started = await api(survivor.url, 'POST', '/v1/canary', { model: 'hotel', canary_version: 3, canary_percent: 50 });
    expect(started.status).toBe(200);
    await sleep(600);
    const { ms } = await untilRolledBack(3);
    expect(ms).toBeLessThan(2 * ANALYSIS_MS + 1500);
    await sleep(2 * ANALYSIS_MS);
    expect(await rollbacksFor(3)).toHaveLength(1);
    const events = (await api(survivor.url, 'GET', '/v1/canary/hotel/events')).body.events.filter((e: { canary_version: number; event: string }) => e.canary_version === 3 && e.event === 'rollback');
    expect(events).toHaveLength(1);
  });
});
