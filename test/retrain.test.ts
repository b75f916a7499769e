import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossFitted, generateHotelBookings, ingestCsv, rowPayload, trainKindModel, TRAINED_CELL_READING } from '../src/training/index.js';
import { generateCarListings } from '../src/training/synthetic-cars.js';
import { createRetrainService, runWhy } from '../src/retrain/index.js';
import { emitToOutbox } from '../src/webhooks/index.js';
import { indexSplit } from '../src/training/train.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { fixture } from './helpers/fixtures.js';
import { csvOf, outbox, registerTrained } from './helpers/retrain.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Retraining that closes the loop: a version trained by modelgate is trained again from its own
 * run record; the candidate is compared with production on the new data's held-out rows and
 * registered only if the gates pass; a retrain plan runs once when monitoring recommends it.
 */
/** Rows of the data a retrain trains on while requests are sent: enough that training takes a while anywhere. */
const BIG_ROWS = 20_000;

for (const dialect of DIALECTS) {
  describe(`retraining on ${dialect}`, () => {
    let s: TestServer;
    const dir = tempDir();
    const fresh = path.join(dir, 'fresh.csv');
    const noise = path.join(dir, 'noise.csv');
    const big = path.join(dir, 'big.csv');
    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false, env: { MONITOR_MIN_ROWS: '100', MONITOR_MIN_LABELS: '100', MONITOR_INTERVAL: '0s' } });
      await registerTrained(s, generateHotelBookings(3000, 1));
      await s.pool.refresh(true);
      writeFileSync(fresh, csvOf(generateHotelBookings(3000, 2)));
      // The same columns, labels that are coin flips: nothing learnable.
      const n = generateHotelBookings(3000, 3);
      let seed = 9;
      n.label = n.label.map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 < 0.37 ? 1 : 0));
      writeFileSync(noise, csvOf(n));
      writeFileSync(big, csvOf(generateHotelBookings(BIG_ROWS, 5)));
    });
    afterAll(() => s?.stop());
    // What training decides (a flattered comparison, the thread it runs on, a multiclass candidate's
    // classes, the policy chosen again, the columns it takes) is the same on either database: once, on SQLite.
    const trainingOnly = (name: string, fn: () => Promise<void>) => {
      if (dialect === 'sqlite') it(name, fn);
    };

    it('a retrain whose candidate is worse than production is gated out: nothing registered, the event says by how much', async () => {
      const r = await s.ctx.retrain.retrain({ model: 'hotel', data: noise, trigger: 'manual', actor: 't' });
      expect(r.status).toBe('gated_out');
      const vs = r.gates.find((g) => g.gate === 'vs_current')!;
      expect(vs.passed).toBe(false);
      expect(vs.short_by).toBeCloseTo(r.metrics.current.roc_auc - r.metrics.candidate.roc_auc, 12);
      expect(r.metrics.candidate.roc_auc).toBeLessThan(0.6);
      expect((await s.ctx.registry.getModel('hotel')).versions).toHaveLength(1);
      const gated = (await outbox(s)).find((e) => e.type === 'retrain.gated_out')!;
      expect(gated.data.failed).toEqual(expect.arrayContaining([expect.objectContaining({ gate: 'vs_current', short_by: vs.short_by }), expect.objectContaining({ gate: 'min_auc', threshold: 0.6 })]));
    });

    trainingOnly('a file whose rows moved since the version was trained holds out rows it learned: the run says, from its sample of them, that the comparison flatters it', async () => {
      const data = generateHotelBookings(3000, 11);
      await registerTrained(s, data, 'known', 'gbdt');
      const [header, ...rows] = csvOf(data).trimEnd().split('\n');
      const newestFirst = path.join(dir, 'newest-first-known.csv');
      writeFileSync(newestFirst, `${[header, ...rows.reverse()].join('\n')}\n`);
      const r = await s.ctx.retrain.retrain({ model: 'known', data: newestFirst, trigger: 'manual', actor: 't' });
      // By hand: read backwards, held-out row j (j % 4 == 0) is row 2,999 − j of the file version 1 split, never one it held out (2,999 % 4 == 3).
      expect(Array.from({ length: 3000 }, (_, j) => j).filter((j) => j % 4 === 0 && (2999 - j) % 4 === 0)).toEqual([]);
      const said = r.warnings.find((w) => w.includes('flatters'));
      expect(said).toMatch(
        /^about 100 % of the held-out rows the candidate is compared on are rows version 1 was trained on \(estimated on [\d,]+ of them, against a sample of its training rows kept with its run\), so the comparison flatters it\. Retraining holds out every fourth row by its place in the file; if the file's rows moved since/,
      );
      // In its own order: the version's held-out rows stay held out, nothing is said.
      const inOrder = path.join(dir, 'in-order-known.csv');
      writeFileSync(inOrder, csvOf(data));
      const again = await s.ctx.retrain.retrain({ model: 'known', data: inOrder, sameData: true, trigger: 'manual', actor: 't' });
      expect(again.warnings.filter((w) => w.includes('flatters'))).toEqual([]);
    });

    trainingOnly('a version trained before runs kept a sample of their rows: the flattered comparison is inferred from its scores', async () => {
      // Trees learn their training rows: on them this version scores far above its own held-out AUC.
      const data = generateHotelBookings(3000, 11);
      await registerTrained(s, data, 'moved', 'gbdt', { withoutSketch: true });
      const [header, ...rows] = csvOf(data).trimEnd().split('\n');
      const newestFirst = path.join(dir, 'newest-first.csv');
      writeFileSync(newestFirst, `${[header, ...rows.reverse()].join('\n')}\n`);
      const r = await s.ctx.retrain.retrain({ model: 'moved', data: newestFirst, trigger: 'manual', actor: 't' });
      const recorded = ((await s.ctx.registry.getVersion('moved', 1)).manifest.training as { metrics: { roc_auc: number } }).metrics.roc_auc;
      expect(r.metrics.current.roc_auc - recorded).toBeGreaterThan(0.05);
      const said = r.warnings.find((w) => w.includes('flatters'));
      expect(said).toBe(
        `version 1 scores ROC AUC ${r.metrics.current.roc_auc.toFixed(4)} on these held-out rows against ${recorded.toFixed(4)} on its own when it was trained: it was most likely trained on many of them, so the comparison flatters it. Retraining holds out every fourth row by its place in the file; if the file's rows moved since (newest first, new rows put first, shuffled), keep the old rows in their order with new rows after them, or judge the candidate with modelgate evaluate on rows version 1 never saw`,
      );
      // Kept with the run, gated out or not: the run list is where a plan's outcome is read.
      const [run] = await s.ctx.retrain.runs('moved');
      expect((run.detail as { warnings?: string[] }).warnings).toContain(said);
      // The runs list (CLI and console) shows it beside the gate it failed, if it failed one.
      expect(runWhy(run.detail)).toMatch(
        r.status === 'gated_out' ? /^vs_current \(roc_auc short by \d\.\d{4}\)(, \S+ \(.*\))*; warning: version 1 scores ROC AUC/ : /^warning: version 1 scores ROC AUC/,
      );
      // The file in its own order: the version's held-out rows stay held out, nothing is said.
      const inOrder = path.join(dir, 'in-order.csv');
      writeFileSync(inOrder, csvOf(data));
      const again = await s.ctx.retrain.retrain({ model: 'moved', data: inOrder, sameData: true, trigger: 'manual', actor: 't' });
      expect(again.warnings.filter((w) => w.includes('flatters'))).toEqual([]);
    });

    it('the loop: drift recommends retraining, the plan retrains, registers and starts a canary once; no second retrain within the interval', async () => {
      await s.ctx.retrain.setPlan({ model: 'hotel', data: fresh, canarySteps: [10, 50, 100], minInterval: '7d', actor: 't' });
      // Live traffic unlike the training data: every number five times larger, unseen categories.
      const base = generateHotelBookings(300, 4);
      for (let i = 0; i < 300; i++) {
        const p = rowPayload(base, i);
        const shifted = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v === null ? null : typeof v === 'number' ? v * 5 + 3 : `new-${v}`]));
        const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload: shifted }) });
        expect(res.statusCode, res.body).toBe(200);
      }
      await s.audit.flush();
      await s.monitorJob.tick();
      await s.ctx.retrain.idle();
      const report = await s.ctx.monitoring.latest('hotel');
      expect((report as { alerts: { name: string; firing: boolean }[] }).alerts.find((a) => a.name === 'retrain_recommended')!.firing).toBe(true);
      const versions = (await s.ctx.registry.getModel('hotel')).versions;
      expect(versions).toHaveLength(2);
      const v2 = await s.ctx.registry.getVersion('hotel', 2);
      expect(v2.manifest.training).toMatchObject({ retrained_from: { version: 1, trigger: 'monitor' }, target: 'is_canceled' });
      const canary = await s.ctx.rollouts.status('hotel');
      expect(canary).toMatchObject({ canary_version: 2, canary_percent: 10, steps: [10, 50, 100], auto_promote: true });
      const types = (await outbox(s)).filter((e) => e.type.startsWith('retrain.') && e.data.model === 'hotel').map((e) => e.type);
      expect(types).toEqual(['retrain.started', 'retrain.gated_out', 'retrain.started', 'retrain.registered', 'retrain.canary_started']);
      // The next report still recommends retraining: the plan's interval holds it back.
      await s.monitorJob.tick();
      await s.ctx.retrain.idle();
      expect((await s.ctx.registry.getModel('hotel')).versions).toHaveLength(2);
      const runs = await s.ctx.retrain.runs('hotel');
      expect(runs.map((r) => [r.trigger, r.status])).toEqual([
        ['monitor', 'canary_started'],
        ['manual', 'gated_out'],
      ]);
      // `modelgate monitor` on this traffic says what retrains, naming the plan; without one, the commands that do.
      const said = await runCli(['monitor', '--model', 'hotel', '--version', '1'], s.env);
      expect(said.code, said.stderr).toBe(0);
      expect(said.stdout).toMatch(/^FIRING +retrain_recommended/m);
      expect(said.stdout).toContain(
        `next: hotel's retrain plan (on ${fresh}) runs when a scheduled report recommends retraining, at most every 7d; now, by hand: modelgate retrain --model hotel --data ${fresh}`,
      );
      await s.ctx.retrain.removePlan('hotel');
      const planless = await runCli(['monitor', '--model', 'hotel', '--version', '1'], s.env);
      expect(planless.stdout).toContain('next: modelgate retrain --model hotel --data NEW.csv (production trained again on newer data, registered only if it is as good), or a plan');
      await s.ctx.retrain.setPlan({ model: 'hotel', data: fresh, canarySteps: [10, 50, 100], minInterval: '7d', actor: 't' });
    });

    it('while a canary runs, a retrain with --canary is refused before training, a plan waits, and one started during training leaves the candidate registered', async () => {
      // The loop above left its candidate's canary running.
      expect((await s.ctx.rollouts.status('hotel')).canary_version).not.toBeNull();
      const versions = async () => (await s.ctx.registry.getModel('hotel')).versions.length;
      const runs = async () => (await s.ctx.retrain.runs('hotel', 100)).length;
      const [beforeVersions, beforeRuns] = [await versions(), await runs()];
      await expect(s.ctx.retrain.retrain({ model: 'hotel', data: fresh, canarySteps: [10, 100], trigger: 'manual', actor: 't' })).rejects.toThrow(
        /^a canary of hotel is already running \(version \d+ at 10% against \d+\): a retrain with --canary waits for it to end/,
      );
      expect([await versions(), await runs()]).toEqual([beforeVersions, beforeRuns]);
      // The plan (with a canary) waits for it rather than training a candidate whose canary cannot start.
      const report = (await s.ctx.monitoring.latest('hotel')) as Parameters<typeof s.ctx.retrain.onReport>[0];
      // No interval: the last planned run (the loop's, a moment ago) must not hold it back as too_soon.
      await s.ctx.retrain.setPlan({ model: 'hotel', data: fresh, canarySteps: [10, 100], minInterval: '0s', actor: 't' });
      expect(await s.ctx.retrain.onReport(report)).toBe('canary_running');
      // A canary started while the candidate trained (the check before training saw none): the candidate stays registered, and says why it has no canary.
      const unaware = createRetrainService({
        db: s.ctx.db,
        registry: s.ctx.registry,
        rollouts: { ...s.ctx.rollouts, store: { ...s.ctx.rollouts.store, get: async () => undefined } },
        clock: s.ctx.clock,
        log: s.ctx.log,
        emit: emitToOutbox,
        s3: { region: 'us-east-1' },
        workDir: path.join(dir, 'retrain'),
      });
      // Data of its own: the loop above already retrained version 1 on fresh, and the same data again trains nothing.
      const other = path.join(dir, 'fresh-other.csv');
      writeFileSync(other, csvOf(generateHotelBookings(3000, 6)));
      const r = await unaware.retrain({ model: 'hotel', data: other, canarySteps: [10, 100], trigger: 'manual', actor: 't', maxMetricDrop: 1 });
      expect(r).toMatchObject({ status: 'registered', candidate_version: beforeVersions + 1, canary: null });
      expect(r.warnings).toEqual([expect.stringMatching(new RegExp(`^version ${beforeVersions + 1} is registered, but its canary did not start: a canary of hotel is already running`))]);
      expect((await s.ctx.retrain.runs('hotel', 1))[0]).toMatchObject({ status: 'registered', candidate_version: beforeVersions + 1 });
    });

    // Last: it registers a version the tests above do not expect.
    trainingOnly('the candidate trains on a thread of its own: the server answers requests while it trains', async () => {
      // Requests sent one after another from the moment training starts until it ends: with the
      // training on the request thread (as a planned retrain once ran, inside the server) none
      // could be answered before it finished.
      let training = false;
      let answered = 0;
      const messages: string[] = [];
      const probe = async () => {
        while (training) {
          const res = await s.app.inject({ method: 'GET', url: '/healthz' });
          expect(res.statusCode).toBe(200);
          if (training) answered++;
          // A turn of the event loop between requests, as between real clients' (inject alone may never leave the microtask queue).
          await new Promise((done) => setImmediate(done));
        }
      };
      let probing: Promise<void> = Promise.resolve();
      const r = await s.ctx.retrain.retrain({
        model: 'hotel',
        data: big,
        trigger: 'manual',
        actor: 't',
        onProgress: (m) => {
          messages.push(m);
          if (m.startsWith('training ')) {
            training = true;
            probing = probe();
          }
          if (m.startsWith('trained on ')) training = false;
        },
      });
      await probing;
      // Split as the version was, by index: every fourth row held out.
      expect(messages).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`^training logreg \\(binary\\) on ${BIG_ROWS} rows, split as version \\d+ was$`)),
          expect.stringMatching(new RegExp(`^trained on ${BIG_ROWS * 0.75} rows \\(${BIG_ROWS * 0.25} held out\\) in \\d+\\.\\d s$`)),
        ]),
      );
      expect(answered).toBeGreaterThan(0);
      // The candidate is what training on that data gives: it is measured and compared as before.
      expect(r.metrics.candidate.roc_auc).toBeGreaterThan(0.7);
    });

    trainingOnly('a multiclass candidate whose data lacks a class says so, and feedback naming that class for its predictions counts as its miss', async () => {
      const dataFile = path.join(dir, 'cars.csv');
      writeFileSync(dataFile, generateCarListings(3000, 21).csv);
      const ingested = await ingestCsv(dataFile, { target: 'fuel' });
      const t = trainKindModel({ data: ingested.data, algo: 'gbdt', split: indexSplit(ingested.data, 0.25), gbdt: { rounds: 15 } });
      const run = { ...t.run, target: 'fuel', task: 'multiclass', split: { kind: 'index', test_fraction: 0.25 }, columns: ingested.columns.map((c) => ({ name: c.name, role: c.role })) };
      // Cars on the rare fuel go to review.
      const policy = { type: 'class_map' as const, decisions: { other: 'review', electric: 'ev' }, default: 'none' };
      const v1 = await s.ctx.registry.register({
        model: 'fuel',
        onnx: t.onnx,
        policy,
        manifest: { missing_category: '', metrics: t.metrics, training: run, run_id: t.run.run_id },
        actor: 't',
      });
      await s.ctx.registry.promote({ model: 'fuel', target: 'production', version: v1.version, actor: 't' });
      expect(t.run.classes).toContain('other');
      // A month without a single car of the rarest fuel.
      const rows = parse(generateCarListings(3000, 22).csv, { columns: true }) as Record<string, string>[];
      const withoutOther = path.join(dir, 'cars-without-other.csv');
      writeFileSync(
        withoutOther,
        stringify(
          rows.filter((r) => r.fuel !== 'other'),
          { header: true },
        ),
      );
      const r = await s.ctx.retrain.retrain({ model: 'fuel', data: withoutOther, trigger: 'manual', actor: 't', maxMetricDrop: 1 });
      expect(r.status).toBe('registered');
      expect(r.warnings).toEqual([
        `class "other" of version ${v1.version} has no row in the new data: the candidate cannot predict it (feedback naming it counts as a miss)`,
        `the policy's decision for "other" is left out of the candidate's, which cannot predict it`,
      ]);
      expect((await s.ctx.registry.getVersion('fuel', r.candidate_version!)).manifest.policy).toEqual({ type: 'class_map', decisions: { electric: 'ev' }, default: 'none' });
      expect((await outbox(s)).find((e) => e.type === 'retrain.registered' && e.data.model === 'fuel')!.data.warnings).toEqual(r.warnings);
      await s.pool.refresh(true);
      const predicted = await s.app.inject({
        method: 'POST',
        url: '/v1/models/fuel/predict',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ version: r.candidate_version, instances: [rowPayload(ingested.data, 0)] }),
      });
      expect(predicted.statusCode, predicted.body).toBe(200);
      const id = predicted.json().predictions[0].prediction_id as string;
      const feedback = async (label: string) =>
        (await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ prediction_id: id, label }) })).json();
      // The car really ran on the fuel the candidate never saw: stored, as the miss it is.
      expect(await feedback('other')).toMatchObject({ stored: 1 });
      expect(await s.ctx.feedback.get(id)).toMatchObject({ actual_class: 'other' });
      const typo = await feedback('steam');
      expect(typo.error.message).toMatch(/expected one of its classes .*, or a class another version of the model predicts \("other"\), got "steam"/);
    });

    it('a retrain that trains the version again, measured the same, registers nothing and names it; new data registers', async () => {
      const dataFile = path.join(dir, 'cars-price.csv');
      writeFileSync(dataFile, generateCarListings(2000, 31).csv);
      const ingested = await ingestCsv(dataFile, { target: 'price', exclude: ['listing_id'] });
      const t = trainKindModel({ data: ingested.data, algo: 'gbdt', split: indexSplit(ingested.data, 0.25), gbdt: { rounds: 20 } });
      const run = { ...t.run, target: 'price', task: 'regression', split: { kind: 'index', test_fraction: 0.25 }, columns: ingested.columns.map((c) => ({ name: c.name, role: c.role })) };
      // Registered without the data's sha256, as the same rows in another file would be: only the graph tells.
      const v1 = await s.ctx.registry.register({
        model: 'price',
        onnx: t.onnx,
        manifest: { ...TRAINED_CELL_READING, missing_category: '', metrics: t.metrics, training: run, run_id: t.run.run_id },
        actor: 't',
      });
      await s.ctx.registry.promote({ model: 'price', target: 'production', version: v1.version, actor: 't' });
      const r = await s.ctx.retrain.retrain({ model: 'price', data: dataFile, trigger: 'manual', actor: 't' });
      // Both measured through the serving code: the trainer's float64 R² and the served float32 one differed by about 1e-9.
      expect(r.metrics.candidate).toEqual(r.metrics.current);
      // The same graph and policy as version 1: a version of nothing new is not registered.
      expect(r).toMatchObject({ status: 'unchanged', same_as: 1, candidate_version: null, gates: [] });
      const stored = await s.ctx.registry.getVersion('price', 1);
      expect(r.reason).toBe(
        `the candidate trained on this data is version 1 again (the same graph, sha256 ${stored.onnx_sha256.slice(0, 12)}…, and the same policy): the data teaches nothing version 1 did not learn`,
      );
      expect((await outbox(s)).filter((e) => e.type === 'retrain.unchanged').at(-1)!.data).toMatchObject({ same_as: 1, onnx_sha256: stored.onnx_sha256 });
      expect((await s.ctx.registry.getModel('price')).versions).toHaveLength(1);
      expect((await s.ctx.retrain.runs('price', 1))[0]).toMatchObject({ status: 'unchanged' });
      // Other data trains another graph: registered, its record as train makes it.
      writeFileSync(path.join(dir, 'cars-price-2.csv'), generateCarListings(2000, 32).csv);
      const other = await s.ctx.retrain.retrain({ model: 'price', data: path.join(dir, 'cars-price-2.csv'), trigger: 'manual', actor: 't', maxMetricDrop: 1 });
      expect(other).toMatchObject({ status: 'registered', candidate_version: 2 });
      expect((await s.ctx.registry.getVersion('price', 2)).manifest.metrics).toHaveProperty('mape');
    });

    it('the same data again trains nothing and registers nothing: the version trained on it is named, archived or not', async () => {
      // The test before retrained price v1 on this file into v2.
      const dataFile = path.join(dir, 'cars-price-2.csv');
      const before = (await s.ctx.registry.getModel('price')).versions.length;
      const again = await s.ctx.retrain.retrain({ model: 'price', fromVersion: 1, data: dataFile, trigger: 'monitor', actor: 't' });
      expect(again).toMatchObject({ status: 'unchanged', from_version: 1, candidate_version: null, same_as: 2, gates: [] });
      expect(again.reason).toMatch(
        /^version 2 was retrained from version 1 on this data already \(.*cars-price-2\.csv, sha256 [0-9a-f]{12}…\); try it with modelgate canary start --model price --version 2$/,
      );
      const unchanged = (await outbox(s)).filter((e) => e.type === 'retrain.unchanged');
      expect(unchanged.at(-1)!.data).toMatchObject({ model: 'price', from_version: 1, same_as: 2, data: dataFile });
      // From version 2 itself: its own training data.
      const own = await s.ctx.retrain.retrain({ model: 'price', fromVersion: 2, data: dataFile, trigger: 'manual', actor: 't' });
      expect(own).toMatchObject({ status: 'unchanged', same_as: 2 });
      expect(own.reason).toMatch(/cars-price-2\.csv is the data version 2 was trained on \(sha256 [0-9a-f]{12}…\)$/);
      // Archived (an operator turned it down): still the same model, said so.
      await s.ctx.registry.promote({ model: 'price', target: 'archived', version: 2, actor: 't' });
      const archived = await s.ctx.retrain.retrain({ model: 'price', fromVersion: 1, data: dataFile, trigger: 'manual', actor: 't' });
      expect(archived.reason).toMatch(/^version 2 \(archived\) was retrained from version 1 on this data already .*; restore it if it should be tried again$/);
      await s.ctx.registry.promote({ model: 'price', target: 'active', version: 2, actor: 't' });
      expect((await s.ctx.registry.getModel('price')).versions).toHaveLength(before);
      const runs = await s.ctx.retrain.runs('price', 3);
      expect(runs.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
      // One row more is new data: it trains.
      writeFileSync(path.join(dir, 'cars-price-more.csv'), generateCarListings(2001, 31).csv);
      const more = await s.ctx.retrain.retrain({ model: 'price', fromVersion: 1, data: path.join(dir, 'cars-price-more.csv'), trigger: 'manual', actor: 't' });
      expect(more.status).not.toBe('unchanged');
      expect(more.metrics.candidate.r2).toBeGreaterThan(0);
    });

    trainingOnly('a threshold set by hand is said to be chosen again for the candidate; one chosen for costs is chosen again for the same costs', async () => {
      const production = (await s.ctx.registry.getModel('hotel')).aliases.production!;
      const threshold = (t: number) => ({ type: 'threshold' as const, threshold: t, above: 'act', below: 'none' });
      const byHand = await s.ctx.registry.withPolicy({ model: 'hotel', from: production, policy: threshold(0.42), actor: 't' });
      // sameData: the loop above registered this candidate from production already (the same graph and chosen policy).
      const r = await s.ctx.retrain.retrain({ model: 'hotel', fromVersion: byHand.version, data: fresh, trigger: 'manual', actor: 't', maxMetricDrop: 1, sameData: true });
      expect(r.warnings).toEqual([
        expect.stringMatching(
          new RegExp(`^version ${byHand.version}'s policy \\(act when score >= 0\\.42, else none\\) was set by hand with modelgate policy set; the candidate's \\(act when score >= 0\\.\\d+`),
        ),
      ]);
      const costs = { tp: 0, fp: -20, fn: -100, tn: 0 };
      const forCosts = await s.ctx.registry.withPolicy({ model: 'hotel', from: production, policy: threshold(0.2), costs, actor: 't' });
      const again = await s.ctx.retrain.retrain({ model: 'hotel', fromVersion: forCosts.version, data: fresh, trigger: 'manual', actor: 't', maxMetricDrop: 1, sameData: true });
      expect(again.warnings).toEqual([]);
      const candidate = await s.ctx.registry.getVersion('hotel', again.candidate_version!);
      expect((candidate.manifest.training as { params: Record<string, unknown> }).params).toMatchObject({ cost_matrix: costs, threshold_objective: 'profit' });
      // Its threshold was chosen on the held-out rows it is measured on: its profit there is cross-fitted.
      const held = indexSplit((await ingestCsv(fresh, { target: 'is_canceled' })).data, 0.25).test;
      const scores: number[] = [];
      for (let i = 0; i < held.rows; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'hotel', version: again.candidate_version, payload: rowPayload(held, i) } });
        scores.push(res.json().score);
      }
      const fitted = crossFitted(scores, held.label, costs);
      expect(again.metrics.candidate.expected_profit_per_row).toBeCloseTo(fitted.profit_per_row!, 12);
      expect(again.metrics.candidate.f1).toBeCloseTo(fitted.f1, 12);
      const chosen = (await s.ctx.registry.getVersion('hotel', again.candidate_version!)).manifest.policy as { threshold: number };
      const realised = scores.reduce((sum, v, i) => sum + (v >= chosen.threshold ? (held.label[i] ? 0 : -20) : held.label[i] ? -100 : 0), 0) / held.rows;
      expect(realised).toBeGreaterThan(fitted.profit_per_row!);
    });

    // Also after the loop: it registers a version.
    trainingOnly('the candidate takes the requests production takes: a column of one value in the new data stays, a column the version never took stays out', async () => {
      // Drifted data as a month of one hotel's bookings gives it: a single hotel, no parking, and an export with one column more.
      const d = generateHotelBookings(3000, 7);
      d.categorical.hotel = d.categorical.hotel.map(() => 'Resort Hotel');
      d.numeric.required_car_parking_spaces = d.numeric.required_car_parking_spaces.map(() => 0);
      const csv = csvOf(d).split('\n');
      const oneValue = path.join(dir, 'one-hotel.csv');
      writeFileSync(oneValue, csv.map((line, i) => (line ? `${line},${i === 0 ? 'channel' : ['web', 'phone', 'agent'][i % 3]}` : line)).join('\n'));
      const production = await s.ctx.registry.getVersion('hotel', (await s.ctx.registry.getModel('hotel')).aliases.production!);
      const r = await s.ctx.retrain.retrain({ model: 'hotel', data: oneValue, trigger: 'manual', actor: 't', maxMetricDrop: 1 });
      expect(r.status).toBe('registered');
      const candidate = await s.ctx.registry.getVersion('hotel', r.candidate_version!);
      const features = (v: typeof production) => v.manifest.contract.features.map((f: { name: string; type: string }) => [f.name, f.type]);
      expect(features(candidate)).toEqual(features(production));
      expect(features(candidate).map(([name]: string[]) => name)).toEqual(expect.arrayContaining(['hotel', 'required_car_parking_spaces']));
      expect((candidate.manifest.training as { columns: { name: string; role: string }[] }).columns).toEqual(
        expect.arrayContaining([
          { name: 'hotel', role: 'categorical' },
          { name: 'required_car_parking_spaces', role: 'numeric' },
          { name: 'channel', role: 'excluded' },
        ]),
      );
      // A request with the other hotel, which the new data never held, is answered by the candidate.
      const row = { ...rowPayload(d, 0), hotel: 'City Hotel' };
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/models/hotel/predict',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ version: r.candidate_version, instances: [row] }),
      });
      expect(res.statusCode, res.body).toBe(200);
      // A trained column with no value at all cannot be trained on: the message names it and why.
      const empty = path.join(dir, 'no-adr.csv');
      const header = csv[0].split(',');
      const adr = header.indexOf('adr');
      writeFileSync(
        empty,
        csv
          .map((line, i) =>
            line && i > 0
              ? line
                  .split(',')
                  .map((c, j) => (j === adr ? '' : c))
                  .join(',')
              : line,
          )
          .join('\n'),
      );
      await expect(s.ctx.retrain.retrain({ model: 'hotel', data: empty, trigger: 'manual', actor: 't' })).rejects.toThrow(
        new RegExp(`${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: adr \\(every value is missing\\): version \\d+ was trained on this column`),
      );
    });
  });
}

describe('modelgate retrain', () => {
  it('an imported model has no run record to repeat: a clear message, nothing created', async () => {
    const dir = tempDir();
    const env = { MODELGATE_DATA_DIR: dir };
    const onnx = path.join(dir, 'telco.onnx');
    writeFileSync(onnx, fixture('telco_churn').onnx);
    expect((await runCli(['register', '--model', 'telco', '--onnx', onnx], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'telco', '--version', '1'], env)).code).toBe(0);
    const r = await runCli(['retrain', '--model', 'telco', '--data', onnx], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model telco version 1 was imported \(registered from an ONNX file\), so it has no training run record to repeat; train a new version with modelgate train/);
    const missing = await runCli(['retrain', '--model', 'telco'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/give --data CSV/);
    // A plan that could only fail is refused when it is set, not at its first run days later.
    const plan = await runCli(['retrain', 'plan', 'set', '--model', 'telco', '--data', onnx], env);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/model telco version 1 was imported/);
    expect((await runCli(['retrain', 'plan', 'show', '--model', 'telco', '--json'], env)).json()).toMatchObject({ plan: null });
    // Said in the flags' own names, before anything else is looked at.
    const interval = await runCli(['retrain', 'plan', 'set', '--model', 'telco', '--data', onnx, '--step-interval', '30m'], env);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toMatch(/--step-interval: how long each canary step must stay healthy, so only with --canary/);
    const weekly = await runCli(['retrain', 'plan', 'set', '--model', 'telco', '--data', onnx, '--min-interval', 'weekly'], env);
    expect(weekly.stderr).toMatch(/--min-interval: expected a duration such as 30s, 10m or 1h, got "weekly"/);
    // A model that does not exist is said to be one, not to have no plan.
    for (const verb of ['show', 'remove']) {
      const nosuch = await runCli(['retrain', 'plan', verb, '--model', 'nosuch'], env);
      expect(nosuch.code, verb).toBe(1);
      expect(nosuch.stderr, verb).toMatch(/model nosuch is not registered/);
    }
  }, 120_000);
});

describe('a version trained by modelgate 0.0.1', () => {
  let s: TestServer;
  afterAll(() => s?.stop());

  // Its run record named the target only among the column roles; retrain refused it as having
  // none, and evaluate and predictions export --training-data did not know the outcome's column.
  it('is retrained and evaluated by the target its column roles name', async () => {
    s = await startTestServer({ jobs: false });
    await registerTrained(s, generateHotelBookings(3000, 1), 'hotel', 'logreg', { as001: true });
    expect((await s.ctx.registry.getVersion('hotel', 1)).manifest.training).not.toHaveProperty('target');
    const data = path.join(tempDir(), 'fresh.csv');
    writeFileSync(data, csvOf(generateHotelBookings(3000, 2)));
    const retrained = await runCli(['retrain', '--model', 'hotel', '--data', data, '--max-metric-drop', '1', '--json'], s.env);
    expect(retrained.code, retrained.stderr).toBe(0);
    expect(retrained.json()).toMatchObject({ status: 'registered', from_version: 1, candidate_version: 2 });
    expect((await s.ctx.registry.getVersion('hotel', 2)).manifest.training).toMatchObject({ target: 'is_canceled' });
    const evaluated = await runCli(['evaluate', '--model', 'hotel', '--version', '1', '--data', data], s.env);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout + evaluated.stderr).toMatch(/target: is_canceled \(the column version 1 was trained to predict/);
  }, 120_000);
});

describe('modelgate retrain gated out only by a small margin', () => {
  let s: TestServer;
  afterAll(() => s?.stop());

  it('says how far behind the candidate is and the --max-metric-drop that lets it through; given that, it is registered', async () => {
    s = await startTestServer({ jobs: false });
    await registerTrained(s, generateHotelBookings(3000, 1));
    // Fewer rows of the same process: a candidate a little worse on the same held-out rows, above the run's own min_auc.
    const data = path.join(tempDir(), 'fewer.csv');
    writeFileSync(data, csvOf(generateHotelBookings(1200, 2)));
    const gated = await runCli(['retrain', '--model', 'hotel', '--data', data], s.env);
    expect(gated.code, gated.stderr).toBe(1);
    const said = /nothing was registered \(the candidate's roc_auc is (0\.\d{4}) below version 1's; --max-metric-drop (0\.\d{4}) lets a candidate that close through/.exec(gated.stdout);
    expect(said, gated.stdout).not.toBeNull();
    // The gap as the comparison printed above it: version 1's value less the candidate's.
    const shown = (name: string) => Number(new RegExp(`roc_auc\\s+candidate (\\d\\.\\d{4})\\s+version 1 (\\d\\.\\d{4})`).exec(gated.stdout)![name === 'candidate' ? 1 : 2]);
    expect(Math.abs(Number(said![1]) - (shown('current') - shown('candidate')))).toBeLessThanOrEqual(0.00011);
    expect(Number(said![2])).toBeGreaterThanOrEqual(Number(said![1]));
    const taken = await runCli(['retrain', '--model', 'hotel', '--data', data, '--max-metric-drop', said![2]!], s.env);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stdout).toMatch(/gate vs_current: passed/);
    expect(taken.stdout).toMatch(/registered version 2/);
  }, 120_000);
});
