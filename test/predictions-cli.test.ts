import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { CLI_MAIN, demoModel, kindFixture, REPO_ROOT } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('modelgate predictions export', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const demo = demoModel();
  let s: TestServer;
  const ids: string[] = [];
  beforeAll(async () => {
    s = await startTestServer({ db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') }, dataDir: dir, jobs: false });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    // More than one export page (1000 rows) to prove paging joins up.
    for (let chunk = 0; chunk < 3; chunk++) {
      const instances = Array.from({ length: 500 }, (_, i) => rowPayload(demo.holdout.data, (chunk * 500 + i) % 700));
      const r = await s.app.inject({ method: 'POST', url: '/v1/models/hotel/predict', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ instances }) });
      ids.push(...r.json().predictions.map((p: { prediction_id: string }) => p.prediction_id));
    }
    await s.audit.flush();
  }, 60_000);
  afterAll(() => s?.stop());

  it('CSV to stdout: a header, then every record once', async () => {
    const r = await runCli(['predictions', 'export', '--model', 'hotel'], env);
    expect(r.code, r.stderr).toBe(0);
    const rows = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(1500);
    expect(new Set(rows.map((x) => x.id))).toEqual(new Set(ids));
    expect(Object.keys(rows[0])).toEqual([
      'id',
      'at',
      'model',
      'version',
      'arm',
      'event_id',
      'score',
      'label',
      'decision',
      'latency_ms',
      'cached',
      'key_id',
      'outcome',
      'outcome_value',
      'outcome_at',
      'features_sha256',
      'features',
    ]);
    expect(JSON.parse(rows[0].features)).toHaveProperty('lead_time');
    expect(r.stderr).toMatch(/exported 1500 predictions/);
  });

  it('JSON lines to a file, written atomically, with a --json summary', async () => {
    const file = path.join(dir, 'out', '..', 'hotel.jsonl');
    const r = await runCli(['predictions', 'export', '--format', 'jsonl', '--out', file, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ rows: 1500, format: 'jsonl', file: path.resolve(file) });
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1500);
    expect(lines[0]).toMatchObject({ model: 'hotel', version: 1 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // Into directories not made yet, as score and backup do (was an internal error naming the temporary file).
    const nested = path.join(dir, 'exports', '2026', '12', 'hotel.jsonl');
    const again = await runCli(['predictions', 'export', '--format', 'jsonl', '--out', nested, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(nested, 'utf8').trim().split('\n')).toHaveLength(1500);
  });

  it('filters by decision, version and arm, as the API does', async () => {
    const all = parse((await runCli(['predictions', 'export', '--model', 'hotel'], env)).stdout, { columns: true }) as Record<string, string>[];
    const acts = all.filter((x) => x.decision === 'act').map((x) => x.id);
    expect(acts.length).toBeGreaterThan(0);
    expect(acts.length).toBeLessThan(1500);
    const r = await runCli(['predictions', 'export', '--model', 'hotel', '--decision', 'act', '--version', '1', '--arm', 'production'], env);
    expect(r.code, r.stderr).toBe(0);
    expect((parse(r.stdout, { columns: true }) as Record<string, string>[]).map((x) => x.id).sort()).toEqual(acts.sort());
    expect((await runCli(['predictions', 'export', '--model', 'hotel', '--arm', 'shadow'], env)).stdout.trim().split('\n')).toHaveLength(1);
    expect((await runCli(['predictions', 'export', '--model', 'hotel', '--version', '2'], env)).stdout.trim().split('\n')).toHaveLength(1);
    const badArm = await runCli(['predictions', 'export', '--arm', 'replica'], env);
    expect(badArm.code).toBe(2);
    expect(badArm.stderr).toMatch(/--arm must be one of production, canary, pinned, shadow, got "replica"/);
    expect((await runCli(['predictions', 'export', '--version', 'latest'], env)).code).toBe(2);
  });

  it('an empty range is an empty export, not an error; bad flags exit 2', async () => {
    const empty = await runCli(['predictions', 'export', '--from', '2999-01-01T00:00:00Z'], env);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout.trim().split('\n')).toHaveLength(1);
    expect((await runCli(['predictions', 'export', '--format', 'xml'], env)).code).toBe(2);
    const backwards = await runCli(['predictions', 'export', '--from', '2026-11-02T00:00:00Z', '--to', '2026-11-01T00:00:00Z'], env);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--from \(2026-11-02T00:00:00.000Z\) must be before --to \(2026-11-01T00:00:00.000Z\)/);
    // A time without a zone would be read in this machine's zone; the API refuses it the same way.
    const local = await runCli(['predictions', 'export', '--from', '2026-11-02 10:00'], env);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/--from: "2026-11-02 10:00" has a time but no zone; add Z \(UTC\) or an offset such as \+02:00/);
    const api = await s.app.inject({ method: 'GET', url: '/v1/predictions?model=hotel&from=2026-11-02T10:00', headers: s.auth });
    expect(api.statusCode).toBe(400);
    expect(api.json().error.message).toBe('query.from: "2026-11-02T10:00" has a time but no zone; add Z (UTC) or an offset such as +02:00');
  });

  it('--from and --to take how long ago: 24h is a day before the export started', async () => {
    const rows = async (...flags: string[]) => {
      const r = await runCli(['predictions', 'export', '--model', 'hotel', ...flags], env);
      expect(r.code, r.stderr).toBe(0);
      return (parse(r.stdout, { columns: true }) as Record<string, string>[]).length;
    };
    // Every record was written in the last minutes: all of them since a day ago, none before it.
    expect(await rows('--from', '1d')).toBe(1500);
    expect(await rows('--to', '24h')).toBe(0);
    expect(await rows('--from', '48h', '--to', '0s')).toBe(1500);
    expect(await rows('--from', '0s')).toBe(0);
    const backwards = await runCli(['predictions', 'export', '--from', '1h', '--to', '2h'], env);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--from \(\S+\) must be before --to \(\S+\)/);
    const typo = await runCli(['predictions', 'export', '--from', '24 hours'], env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(
      '--from: expected a date such as 2026-11-23 (midnight UTC) or a date and time with its zone such as 2026-11-23T10:00:00Z, or how long ago such as 24h or 7d, got "24 hours"',
    );
  });

  it('into a closed pipe (| head -1) it ends quietly with exit 0', async () => {
    // The real shell pipeline: head reads one line and exits; the export's next writes hit EPIPE.
    const script = `"${process.execPath}" "${CLI_MAIN}" predictions export --model hotel 2>"${dir}/pipe.err" | head -1; echo "exit=\${PIPESTATUS[0]}"`;
    const out = execFileSync('bash', ['-c', script], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
    const [header, status] = out.trim().split('\n');
    expect(header).toMatch(/^id,at,model,version/);
    expect(status).toBe('exit=0');
    expect(readFileSync(path.join(dir, 'pipe.err'), 'utf8')).not.toMatch(/EPIPE|error/);
  });

  it("a multiclass model's predicted class is in the label column, also where the decision is not a class", async () => {
    const geo = kindFixture('bank_geography');
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, policy: { type: 'min_probability', min: 0.7, fallback: 'review' }, actor: 't' });
    await s.ctx.registry.promote({ model: 'geo', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    const r = await s.app.inject({
      method: 'POST',
      url: '/v1/models/geo/predict',
      headers: { ...s.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ instances: geo.expected.rows.slice(0, 40) }),
    });
    const served = new Map((r.json().predictions as { prediction_id: string; label: string; decision: string }[]).map((p) => [p.prediction_id, p]));
    expect([...served.values()].some((p) => p.decision === 'review')).toBe(true);
    await s.audit.flush();
    const out = await runCli(['predictions', 'export', '--model', 'geo'], env);
    const rows = parse(out.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(40);
    for (const row of rows) expect({ label: row.label, decision: row.decision }).toEqual({ label: served.get(row.id)!.label, decision: served.get(row.id)!.decision });
  });

  it('each prediction carries the outcome fed back for it (empty while none is), in CSV, JSON lines and the API, binary and multiclass', async () => {
    const feedback = (items: unknown[]) => s.app.inject({ method: 'POST', url: '/v1/feedback', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ items }) });
    // Three of the hotel predictions: two outcomes, one with a realised value; then one changed.
    const fed = await feedback([
      { prediction_id: ids[0], label: 1, value: 250.5 },
      { prediction_id: ids[1], label: 0 },
      { prediction_id: ids[2], label: 1 },
    ]);
    expect(fed.json()).toMatchObject({ stored: 3, failed: 0 });
    expect((await feedback([{ prediction_id: ids[2], label: 0 }])).json()).toMatchObject({ stored: 1 });
    const geoIds = ((await s.app.inject({ method: 'GET', url: '/v1/predictions?model=geo&limit=2', headers: s.auth })).json().predictions as { id: string }[]).map((p) => p.id);
    expect((await feedback([{ prediction_id: geoIds[0], label: 'Spain' }])).json()).toMatchObject({ stored: 1 });

    const csv = parse((await runCli(['predictions', 'export'], env)).stdout, { columns: true }) as Record<string, string>[];
    const byId = new Map(csv.map((r) => [r.id, r]));
    expect(byId.size).toBe(1540);
    expect([ids[0], ids[1], ids[2], geoIds[0]].map((id) => [byId.get(id)!.outcome, byId.get(id)!.outcome_value])).toEqual([
      ['1', '250.5'],
      ['0', ''],
      ['0', ''],
      ['Spain', ''],
    ]);
    expect(byId.get(ids[0])!.outcome_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(csv.filter((r) => r.outcome !== '')).toHaveLength(4);
    expect(byId.get(ids[3])).toMatchObject({ outcome: '', outcome_value: '', outcome_at: '' });

    const file = path.join(dir, 'outcomes.jsonl');
    expect((await runCli(['predictions', 'export', '--model', 'hotel', '--format', 'jsonl', '--out', file], env)).code).toBe(0);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; outcome: unknown; outcome_value: unknown });
    expect(lines.find((l) => l.id === ids[0])).toMatchObject({ outcome: 1, outcome_value: 250.5 });
    expect(lines.find((l) => l.id === ids[3])).toMatchObject({ outcome: null, outcome_value: null, outcome_at: null });

    const api = await s.app.inject({ method: 'GET', url: `/v1/predictions?model=geo&limit=1`, headers: s.auth });
    expect(api.json().predictions[0]).toMatchObject({ id: geoIds[0], outcome: 'Spain', outcome_value: null, outcome_at: expect.any(String) });
  });
});

describe('modelgate predictions export --training-data', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const demo = demoModel();
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') }, dataDir: dir, jobs: false });
    // As train registers it: the run names its target.
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, manifest: { training: { target: 'is_canceled' } }, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
  }, 60_000);
  afterAll(() => s?.stop());

  const infer = async (eventId: string, payload: Record<string, unknown>) => {
    const r = await s.app.inject({
      method: 'POST',
      url: '/v1/infer',
      headers: { ...s.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'hotel', event_id: eventId, payload }),
    });
    expect(r.statusCode, r.body).toBe(200);
    await s.audit.flush();
  };
  const feedback = async (eventId: string, label: number) => {
    const r = await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ event_id: eventId, label }) });
    expect(r.json()).toMatchObject({ stored: 1 });
  };

  it('nothing labelled yet: refused, and nothing written, to stdout either', async () => {
    await infer('bk-0', rowPayload(demo.holdout.data, 0));
    const r = await runCli(['predictions', 'export', '--model', 'hotel', '--training-data'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error: no prediction of hotel in that range has a real outcome yet; feed outcomes back (POST /v1/feedback, modelgate feedback import) first; nothing was written');
    expect((await runCli(['predictions', 'export', '--training-data'], env)).stderr).toContain("error: --training-data holds one model's features: give --model");
  });

  it('one row per labelled prediction: event_id, the features as sent, the outcome under the target name; a repeat kept once', async () => {
    const a = rowPayload(demo.holdout.data, 1);
    const b = rowPayload(demo.holdout.data, 2);
    const bLater: Record<string, unknown> = { ...b, lead_time: 321 };
    // bk-1 scored twice alike, each time labelled (a client's retry): one row. bk-2 scored again
    // with another lead time: two rows. bk-0 (above) never labelled: none.
    await infer('bk-1', a);
    await feedback('bk-1', 1);
    await infer('bk-1', a);
    await feedback('bk-1', 1);
    await infer('bk-2', b);
    await feedback('bk-2', 0);
    await infer('bk-2', bLater);
    await feedback('bk-2', 0);
    const file = path.join(dir, 'labelled.csv');
    const r = await runCli(['predictions', 'export', '--model', 'hotel', '--training-data', '--out', file, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ rows: 3, format: 'csv', file, training_data: { version: 1, features: Object.keys(a).length, target: 'is_canceled', without_features: 0, repeats: 1 } });
    const features = (await s.ctx.registry.getVersion('hotel', 1)).manifest.contract.features.map((f) => f.name);
    const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
    const written = parse(readFileSync(file, 'utf8'), { columns: false }) as string[][];
    expect(written).toEqual([
      ['event_id', ...features, 'is_canceled'],
      ['bk-1', ...features.map((f) => cell(a[f])), '1'],
      ['bk-2', ...features.map((f) => cell(b[f])), '0'],
      ['bk-2', ...features.map((f) => cell(bLater[f])), '0'],
    ]);
    expect(written[3][features.indexOf('lead_time') + 1]).toBe('321');
    // What evaluate reads: the target found by its name, every row scored.
    const evaluated = await runCli(['evaluate', '--model', 'hotel', '--data', file, '--json'], env);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.json()).toMatchObject({ data: { target: 'is_canceled', skipped: 0 }, candidate: { rows: 3 } });
  });

  it("an imported version's outcome goes under its reference's --target column, which evaluate then reads", async () => {
    // As `register --reference FILE --target cancelled` stores it, with no training run.
    const reference = { format: 'modelgate.reference/v1', rows: 1, features: {}, score: { edges: [], counts: [1] }, positive_rate: null, action_rate: 0, target: 'cancelled' };
    const v = await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, manifest: { reference }, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: v.version, actor: 't' });
    await s.pool.refresh(true);
    for (let i = 3; i < 6; i++) {
      await infer(`bk-${i}`, rowPayload(demo.holdout.data, i));
      await feedback(`bk-${i}`, i % 2);
    }
    const file = path.join(dir, 'imported.csv');
    const r = await runCli(['predictions', 'export', '--model', 'hotel', '--version', String(v.version), '--training-data', '--out', file, '--json'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json().training_data).toMatchObject({ version: v.version, target: 'cancelled' });
    expect(readFileSync(file, 'utf8').split('\n')[0].endsWith(',cancelled')).toBe(true);
    const evaluated = await runCli(['evaluate', '--model', 'hotel', '--version', String(v.version), '--data', file, '--json'], env);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.json()).toMatchObject({ data: { target: 'cancelled', skipped: 0 }, candidate: { rows: 3 } });
  });
});
