import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../src/monitoring/index.js';
import { createRetrainService } from '../src/retrain/index.js';
import { emitToOutbox } from '../src/webhooks/index.js';
import { generateHotelBookings } from '../src/training/index.js';
import { DIALECTS, dropDb, freshDb, tempDir } from './helpers/db.js';
import { CLI_MAIN, REPO_ROOT } from './helpers/fixtures.js';
import { csvOf, outbox, registerTrained } from './helpers/retrain.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * A retrain stopped mid-training. Training takes minutes on a large file: a server's shutdown
 * waited for it (past the orchestrator's grace period, whose SIGKILL then lost the audit
 * records still queued), and a Ctrl-C'd `modelgate retrain` left its run 'running' for good.
 * Both now stop the training, record the run as 'interrupted', and a plan runs it again at the
 * next report instead of counting it against its interval. A process killed outright cannot
 * record anything: its run reads 'lost' once its heartbeat stops.
 */

/** Enough rows that reading and training them takes seconds anywhere, so a stop lands mid-way. */
const BIG_ROWS = 400_000;
const recommends = { model: 'hotel', alerts: [{ name: 'retrain_recommended', firing: true }] } as unknown as Report;

const dir = tempDir();
const big = path.join(dir, 'big.csv');
const small = path.join(dir, 'small.csv');
writeFileSync(big, csvOf(generateHotelBookings(BIG_ROWS, 5)));
writeFileSync(small, csvOf(generateHotelBookings(3000, 2)));

async function until<T>(f: () => Promise<T | undefined>, what: string): Promise<T> {
  for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 20))) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`no ${what} within 60 s`);
  }
}

const runningRun = (s: TestServer) => until(async () => (await s.ctx.retrain.runs('hotel')).find((r) => r.status === 'running'), 'running retrain');

for (const dialect of DIALECTS) {
  describe(`a retrain stopped mid-training, on ${dialect}`, () => {
    it("a server's shutdown stops a planned retrain instead of waiting for it; the plan runs it again at the next report", async () => {
      const db = freshDb(dialect);
      const first = await startTestServer({ dialect, db, jobs: false });
      let second: TestServer | undefined;
      try {
        await registerTrained(first, generateHotelBookings(3000, 1));
        await first.ctx.retrain.setPlan({ model: 'hotel', data: big, minInterval: '7d', actor: 't' });
        expect(await first.ctx.retrain.onReport(recommends)).toBe('started');
        await runningRun(first);
        await first.close();

        second = await startTestServer({ dialect, db, dataDir: first.dataDir, jobs: false });
        const [run] = await second.ctx.retrain.runs('hotel');
        expect(run).toMatchObject({ trigger: 'monitor', status: 'interrupted', candidate_version: null });
        expect(run.finished_at).not.toBeNull();
        expect(JSON.stringify(run.detail)).toMatch(/the server shut down while it trained; nothing was registered, and the plan runs it again/);
        expect((await second.ctx.registry.getModel('hotel')).versions).toHaveLength(1);
        const failed = (await outbox(second)).filter((e) => e.type === 'retrain.failed');
        expect(failed).toEqual([{ type: 'retrain.failed', data: expect.objectContaining({ id: run.id, interrupted: true, error: expect.stringMatching(/^the server shut down/) }) }]);

        // The interrupted run does not use up the plan's 7 days: the next report retrains.
        await second.ctx.retrain.setPlan({ model: 'hotel', data: small, minInterval: '7d', actor: 't' });
        expect(await second.ctx.retrain.onReport(recommends)).toBe('started');
        await second.ctx.retrain.idle();
        expect((await second.ctx.retrain.runs('hotel')).map((r) => [r.trigger, r.status])).toEqual([
          ['monitor', expect.stringMatching(/^(registered|gated_out)$/)],
          ['monitor', 'interrupted'],
        ]);
      } finally {
        await first.close().catch(() => undefined);
        await second?.close();
        await dropDb(db);
      }
    }, 180_000);

    it('a retrain whose process is killed outright reads lost once it has been silent two minutes, naming the process', async () => {
      let offsetMs = 0;
      const s = await startTestServer({ dialect, jobs: false, clock: { now: () => new Date(Date.now() + offsetMs) } });
      try {
        await registerTrained(s, generateHotelBookings(3000, 1));
        const child = spawn(process.execPath, [CLI_MAIN, 'retrain', '--model', 'hotel', '--data', big], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...s.env }, stdio: 'ignore' });
        const exited = new Promise<unknown>((resolve) => child.once('exit', resolve));
        await runningRun(s);
        child.kill('SIGKILL');
        await exited;
        // Its heartbeat is fresh: still counted as running for now (a slow machine may hold it silent a while).
        offsetMs = 60_000;
        expect((await s.ctx.retrain.runs('hotel'))[0].status).toBe('running');
        // One retrain of a model at a time: while the killed one may still be alive, a new one is refused.
        await expect(s.ctx.retrain.start({ model: 'hotel', data: small, actor: 't' })).rejects.toThrow(/^a retrain of hotel is running \(since \S+ on \S+:\d+, started by cli:/);
        offsetMs = 180_000;
        const [run] = await s.ctx.retrain.runs('hotel');
        const lostError = new RegExp(
          `^no word from the process running it \\(${hostname()}:${child.pid}\\) since \\S+: it stopped without finishing \\(killed, out of memory, or its machine went down\\); nothing was registered$`,
        );
        expect(run).toMatchObject({ trigger: 'manual', status: 'lost', finished_at: null, detail: { holder: `${hostname()}:${child.pid}` } });
        expect((run.detail as { error: string }).error).toMatch(lostError);
        // Once silent that long, a new retrain takes its place, and the lost run is recorded so, when it was found.
        const next = await s.ctx.retrain.start({ model: 'hotel', data: small, actor: 't' });
        await s.ctx.retrain.idle();
        const [latest, lost] = await s.ctx.retrain.runs('hotel');
        expect(latest).toMatchObject({ id: next.id, status: expect.stringMatching(/^(registered|gated_out)$/) });
        expect(lost).toMatchObject({ id: run.id, status: 'lost', finished_at: expect.any(String), detail: { holder: `${hostname()}:${child.pid}`, error: expect.stringMatching(lostError) } });
      } finally {
        await s.stop();
      }
    }, 180_000);

    it('a run in progress records that it is alive, and who runs it', async () => {
      const s = await startTestServer({ dialect, jobs: false });
      try {
        await registerTrained(s, generateHotelBookings(3000, 1));
        const service = createRetrainService({
          db: s.ctx.db,
          registry: s.ctx.registry,
          rollouts: s.ctx.rollouts,
          clock: s.ctx.clock,
          log: s.ctx.log,
          emit: emitToOutbox,
          s3: { region: 'us-east-1' },
          workDir: tempDir(),
          heartbeatMs: 20,
        });
        const job = service.retrain({ model: 'hotel', data: big, trigger: 'manual', actor: 't' }).catch((e: unknown) => e);
        const first = await runningRun(s);
        const started = (first.detail as { alive_at: string }).alive_at;
        expect(first.detail).toEqual({ alive_at: started, holder: `${hostname()}:${process.pid}`, heartbeat_ms: 20, actor: 't' });
        const later = await until(async () => {
          const [r] = await s.ctx.retrain.runs('hotel');
          const at = (r.detail as { alive_at?: string } | null)?.alive_at;
          return r.status === 'running' && at && at > started ? at : undefined;
        }, 'a newer heartbeat');
        expect(Date.parse(later)).toBeGreaterThan(Date.parse(started));
        await service.stop('test over');
        expect(await job).toMatchObject({ message: 'test over' });
        expect((await s.ctx.retrain.runs('hotel'))[0]).toMatchObject({ status: 'interrupted', detail: { error: 'test over' } });
      } finally {
        await s.stop();
      }
    }, 180_000);

    it('Ctrl-C on modelgate retrain stops the training and records the run as interrupted', async () => {
      const s = await startTestServer({ dialect, jobs: false });
      try {
        await registerTrained(s, generateHotelBookings(3000, 1));
        const child = spawn(process.execPath, [CLI_MAIN, 'retrain', '--model', 'hotel', '--data', big], {
          cwd: REPO_ROOT,
          env: { PATH: process.env.PATH ?? '', ...s.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        await runningRun(s);
        child.kill('SIGINT');
        expect(await exited).toBe(1);
        expect(stderr).toContain('SIGINT: stopping the retrain (again to quit at once)…');
        expect(stderr).toMatch(/^error: stopped by SIGINT while it trained; nothing was registered$/m);
        const [run] = await s.ctx.retrain.runs('hotel');
        expect(run).toMatchObject({ trigger: 'manual', status: 'interrupted', candidate_version: null });
        expect((await s.ctx.registry.getModel('hotel')).versions).toHaveLength(1);
      } finally {
        await s.stop();
      }
    }, 180_000);
  });
}
