import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { csvOf, registerTrained } from './helpers/retrain.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * A model's retrain plan over HTTP (GET, PUT, DELETE /v1/models/:name/retrain): what
 * `modelgate retrain plan set|show|remove` does, for the console and scripts, with the same
 * checks — a plan that could only fail later, on the leader, is refused when it is set.
 */
for (const dialect of DIALECTS) {
  describe(`retrain plans over HTTP on ${dialect}`, () => {
    let s: TestServer;
    let reader: string;
    const dir = tempDir();
    const fresh = path.join(dir, 'fresh.csv');
    const hidden = path.join(dir, 'hidden.csv');
    const later = path.join(dir, 'later.csv');
    const big = path.join(dir, 'big.csv');
    const send = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, authorization = s.auth.authorization) =>
      s.app.inject({ method, url, headers: { authorization }, ...(body !== undefined ? { payload: body as object } : {}) });

    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
      await registerTrained(s, generateHotelBookings(800, 1));
      // A version registered from an ONNX file: no run record to repeat.
      await s.ctx.registry.register({ model: 'imported', onnx: demoModel().onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'imported', target: 'production', version: 1, actor: 't' });
      writeFileSync(fresh, csvOf(generateHotelBookings(800, 2)));
      writeFileSync(later, csvOf(generateHotelBookings(800, 3)));
      // As retrain.test.ts's: enough rows that training takes a while anywhere.
      writeFileSync(big, csvOf(generateHotelBookings(20_000, 5)));
      writeFileSync(hidden, 'x\n');
      chmodSync(hidden, 0o000);
      reader = `Bearer ${(await s.ctx.access.create({ name: 'reader', scopes: ['read'], actor: 't' })).token}`;
    });
    afterAll(() => s?.stop());

    it('a model without a plan or runs reads null and []; an unknown model is 404 on every method', async () => {
      const r = await send('GET', '/v1/models/hotel/retrain');
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ model: 'hotel', plan: null, runs: [] });
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const missing = await send(method, '/v1/models/nosuch/retrain', method === 'PUT' ? { data: fresh } : undefined);
        expect(missing.statusCode, method).toBe(404);
        expect(missing.json().error.code, method).toBe('MODEL_NOT_FOUND');
      }
    });

    it('PUT sets the plan as given; GET and the CLI read it back', async () => {
      const r = await send('PUT', '/v1/models/hotel/retrain', { data: fresh, canary_steps: [10, 50, 100], step_interval: '30m', min_interval: '3d', max_metric_drop: 0.01 });
      expect(r.statusCode, r.body).toBe(200);
      const plan = {
        model: 'hotel',
        data: fresh,
        canary_steps: [10, 50, 100],
        step_interval: '30m',
        min_interval_ms: 3 * 24 * 3600 * 1000,
        max_metric_drop: 0.01,
        created_by: (await send('GET', '/v1/whoami')).json().id,
      };
      expect(r.json()).toMatchObject(plan);
      expect(r.json().warnings).toBeUndefined();
      expect((await send('GET', '/v1/models/hotel/retrain', undefined, reader)).json().plan).toMatchObject(plan);
      const cli = await runCli(['retrain', 'plan', 'show', '--model', 'hotel', '--json'], s.env);
      expect(cli.code, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout).plan).toMatchObject(plan);
    });

    it('a plan that could only fail when it runs is refused, in words, and the plan before stays', async () => {
      const before = (await send('GET', '/v1/models/hotel/retrain')).json().plan;
      const refused: [unknown, number, string, RegExp][] = [
        [{ data: 'exports/fresh.csv' }, 400, 'VALIDATION_FAILED', /relative path.*absolute path/],
        [{ data: fresh, canary_steps: [50, 10] }, 400, 'VALIDATION_FAILED', /canary_steps: each step must be larger than the one before, got \[50, 10\]/],
        [{ data: fresh, canary_steps: [10, 150] }, 400, 'VALIDATION_FAILED', /canary_steps\[1\]: expected a percentage from 0 to 100/],
        [{ data: fresh, canary_steps: [0, 50] }, 400, 'VALIDATION_FAILED', /canary_steps: every step must be above 0/],
        [{ data: fresh, step_interval: '30m' }, 400, 'VALIDATION_FAILED', /step_interval: .*only with canary steps/],
        [{ data: fresh, canary_steps: [10, 100], step_interval: 'soon' }, 400, 'VALIDATION_FAILED', /step_interval: expected a duration/],
        [{ data: fresh, min_interval: 'weekly' }, 400, 'VALIDATION_FAILED', /min_interval: expected a duration such as 30s/],
        [{ data: fresh, max_metric_drop: -0.1 }, 400, 'VALIDATION_FAILED', /max_metric_drop/],
        [{ data: fresh, schedule: 'daily' }, 400, 'VALIDATION_FAILED', /schedule/],
        [{}, 400, 'VALIDATION_FAILED', /data/],
        // Stored to be read days later: an S3 location without a bucket or a key is refused now (it was stored).
        [{ data: 's3://' }, 400, 'BAD_REQUEST', /^data: s3:\/\/: expected s3:\/\/bucket\/key$/],
        [{ data: 's3://bucket-only' }, 400, 'BAD_REQUEST', /^data: s3:\/\/bucket-only: expected s3:\/\/bucket\/key$/],
      ];
      for (const [body, status, code, message] of refused) {
        const r = await send('PUT', '/v1/models/hotel/retrain', body);
        expect(r.statusCode, JSON.stringify(body)).toBe(status);
        expect(r.json().error.code, JSON.stringify(body)).toBe(code);
        expect(r.json().error.message, JSON.stringify(body)).toMatch(message);
      }
      const imported = await send('PUT', '/v1/models/imported/retrain', { data: fresh });
      expect(imported.statusCode).toBe(400);
      expect(imported.json().error.message).toMatch(/imported \(registered from an ONNX file\), so it has no training run record/);
      expect((await send('GET', '/v1/models/hotel/retrain')).json().plan).toEqual(before);
    });

    it('a local file this server cannot read is kept with a warning: the leader that runs the plan may see other files', async () => {
      const r = await send('PUT', '/v1/models/hotel/retrain', { data: hidden });
      expect(r.statusCode).toBe(200);
      // As root every file reads; the warning is then for one that does not exist at all.
      const unreadable = process.getuid?.() === 0 ? path.join(dir, 'not-there.csv') : hidden;
      const again = await send('PUT', '/v1/models/hotel/retrain', { data: unreadable });
      expect(again.json()).toMatchObject({ data: unreadable, warnings: [expect.stringContaining(`${unreadable} is not a file this machine can read`)] });
      const s3 = await send('PUT', '/v1/models/hotel/retrain', { data: 's3://lake/hotel/latest.csv', min_interval: '1d' });
      expect(s3.json()).toMatchObject({ data: 's3://lake/hotel/latest.csv', canary_steps: [], step_interval: null, min_interval_ms: 86_400_000, max_metric_drop: 0 });
      expect(s3.json().warnings).toBeUndefined();
    });

    it('a read key may look but not change; admin removes the plan, and removing it again says there was none', async () => {
      expect((await send('GET', '/v1/models/hotel/retrain', undefined, reader)).statusCode).toBe(200);
      expect((await send('PUT', '/v1/models/hotel/retrain', { data: fresh }, reader)).statusCode).toBe(403);
      expect((await send('DELETE', '/v1/models/hotel/retrain', undefined, reader)).statusCode).toBe(403);
      expect((await send('DELETE', '/v1/models/hotel/retrain')).json()).toEqual({ model: 'hotel', removed: true });
      expect((await send('DELETE', '/v1/models/hotel/retrain')).json()).toEqual({ model: 'hotel', removed: false });
      expect((await send('GET', '/v1/models/hotel/retrain')).json().plan).toBeNull();
    });

    it("runs are listed newest first with their outcome, limit=1 the latest; a CLI retrain's run shows here", async () => {
      const first = await s.ctx.retrain.retrain({ model: 'hotel', data: fresh, maxMetricDrop: 1, trigger: 'manual', actor: 't' });
      expect(first.status).toBe('registered');
      // The same data again: the candidate (or version 1) was trained on it, so nothing is trained.
      const cli = await runCli(['retrain', '--model', 'hotel', '--data', fresh, '--json'], s.env);
      expect(cli.code, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout).status).toBe('unchanged');
      const all = (await send('GET', '/v1/models/hotel/retrain', undefined, reader)).json();
      expect(all.runs.map((r: { status: string }) => r.status)).toEqual(['unchanged', first.status]);
      expect(all.runs[1]).toMatchObject({ trigger: 'manual', from_version: 1, candidate_version: first.candidate_version ?? null });
      expect(Date.parse(all.runs[0].started_at)).toBeGreaterThanOrEqual(Date.parse(all.runs[1].started_at));
      const latest = (await send('GET', '/v1/models/hotel/retrain?limit=1')).json();
      expect(latest.runs).toHaveLength(1);
      expect(latest.runs[0].id).toBe(all.runs[0].id);
      expect((await send('GET', '/v1/models/hotel/retrain?limit=lots')).statusCode).toBe(400);
    });

    it('Retrain now: POST …/retrain/runs answers 202 with the run once it is recorded, and the run list shows it end', async () => {
      // On data that takes a while to train: the answer comes while it still runs, not when it ends.
      const slow = await send('POST', '/v1/models/hotel/retrain/runs', { data: big, max_metric_drop: 1 });
      expect(slow.statusCode, slow.body).toBe(202);
      const slowRun = async () => ((await send('GET', '/v1/models/hotel/retrain')).json().runs as { id: string; status: string }[]).find((x) => x.id === slow.json().id);
      expect((await slowRun())?.status).toBe('running');
      await expect.poll(async () => (await slowRun())?.status, { timeout: 120_000, interval: 200 }).not.toBe('running');
      const r = await send('POST', '/v1/models/hotel/retrain/runs', { data: later, max_metric_drop: 1 });
      expect(r.statusCode, r.body).toBe(202);
      expect(r.json()).toMatchObject({ model: 'hotel', status: 'running', data: later });
      const id = r.json().id as string;
      // Recorded before the answer: the list has it at once (running, or already over on a fast machine).
      const listed = async () => ((await send('GET', '/v1/models/hotel/retrain', undefined, reader)).json().runs as { id: string; status: string }[]).find((x) => x.id === id);
      expect(await listed()).toBeDefined();
      await expect.poll(async () => (await listed())?.status, { timeout: 60_000, interval: 100 }).toBe('registered');
      const run = (await send('GET', '/v1/models/hotel/retrain')).json().runs.find((x: { id: string }) => x.id === id);
      expect(run).toMatchObject({ trigger: 'manual', from_version: 1, detail: { actor: (await send('GET', '/v1/whoami')).json().id } });
      expect((await s.ctx.registry.getModel('hotel')).versions.map((v) => v.version)).toContain(run.candidate_version);
    });

    it('Retrain now is refused in words when it could only fail: a relative or missing file, steps out of order, a run going on, an imported model', async () => {
      const refused: [string, unknown, number, RegExp][] = [
        ['hotel', { data: 'exports/later.csv' }, 400, /relative path/],
        ['hotel', { data: path.join(dir, 'not-there.csv') }, 400, /not a file this server can read/],
        ['hotel', { data: later, canary_steps: [50, 10] }, 400, /canary_steps: each step must be larger/],
        ['hotel', { data: later, step_interval: '30m' }, 400, /step_interval: .*only with canary steps/],
        ['imported', { data: later }, 400, /imported \(registered from an ONNX file\)/],
        ['nosuch', { data: later }, 404, /not registered/],
      ];
      for (const [model, body, status, message] of refused) {
        const r = await send('POST', `/v1/models/${model}/retrain/runs`, body);
        expect(r.statusCode, JSON.stringify(body)).toBe(status);
        expect(r.json().error.message, JSON.stringify(body)).toMatch(message);
      }
      expect((await send('POST', '/v1/models/hotel/retrain/runs', { data: later }, reader)).statusCode).toBe(403);
      // A run another replica is doing (its heartbeat fresh): a second start is refused, naming where it runs.
      await s.ctx.db.kysely
        .insertInto('retrain_runs')
        .values({
          id: 'elsewhere',
          model: 'hotel',
          trigger: 'manual',
          status: 'running',
          from_version: 1,
          candidate_version: null,
          started_at: new Date().toISOString(),
          finished_at: null,
          detail: JSON.stringify({ alive_at: new Date().toISOString(), holder: 'replica-2:41', heartbeat_ms: 30_000 }),
        })
        .execute();
      const busy = await send('POST', '/v1/models/hotel/retrain/runs', { data: later });
      expect(busy.statusCode).toBe(409);
      expect(busy.json().error.message).toMatch(/^a retrain of hotel is running \(since .* on replica-2:41\); one runs at a time: wait for it to end/);
      // A CLI retrain of the model meanwhile is refused the same way, and records no run.
      const cli = await runCli(['retrain', '--model', 'hotel', '--data', later, '--same-data', '--json'], s.env);
      expect(cli.code).not.toBe(0);
      expect(JSON.parse(cli.stdout).error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/^a retrain of hotel is running \(since .* on replica-2:41\); one runs at a time/) });
      expect((await send('GET', '/v1/models/hotel/retrain?limit=100')).json().runs.filter((r: { status: string }) => r.status === 'running')).toHaveLength(1);
      await s.ctx.db.kysely.deleteFrom('retrain_runs').where('id', '=', 'elsewhere').execute();
    });

    it('Retrain now on two replicas at the same instant: one trains, the other is refused naming it; a CLI retrain meanwhile too', async () => {
      // A second replica on the same database: each read that none was running, and both trained.
      const other = await startTestServer({ dialect, db: s.db, dataDir: s.dataDir, jobs: false });
      try {
        const before = (await send('GET', '/v1/models/hotel/retrain')).json().runs.length as number;
        const answers = await Promise.all(
          [s, other].map((x) => x.app.inject({ method: 'POST', url: '/v1/models/hotel/retrain/runs', headers: x.auth, payload: { data: big, max_metric_drop: 1, same_data: true } })),
        );
        expect(answers.map((a) => a.statusCode).sort(), answers.map((a) => a.body).join('\n')).toEqual([202, 409]);
        const refused = answers.find((a) => a.statusCode === 409)!.json().error;
        expect(refused.code).toBe('CONFLICT');
        expect(refused.message).toMatch(/^a retrain of hotel is running \(since \S+ on \S+:\d+, started by admin-token\); one runs at a time: wait for it to end/);
        const id = answers.find((a) => a.statusCode === 202)!.json().id as string;
        const runs = async () => (await send('GET', '/v1/models/hotel/retrain?limit=100')).json().runs as { id: string; status: string }[];
        await expect.poll(async () => (await runs()).find((r) => r.id === id)?.status, { timeout: 120_000, interval: 200 }).not.toBe('running');
        expect((await runs()).length).toBe(before + 1);
      } finally {
        await other.close();
      }
    });
  });
}
