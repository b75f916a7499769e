import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, migrate, type Db } from '../db/index.js';
import { smokeTest } from '../inference/index.js';
import { createLogger } from '../lib/logger.js';
import { AppError } from '../lib/errors.js';
import { DIALECTS, dropDb, freshDb, tempDir, type DbLocation } from '../../test/helpers/db.js';
import { demoModel, fixture, THREE_BANDS } from '../../test/helpers/fixtures.js';
import { createDirArtifactStore } from './artifacts/index.js';
import { createRegistryService, type RegistryService } from './service.js';
import { createRegistryStore } from './store.js';

const log = createLogger('silent');

describe.each(DIALECTS)('registry on %s', (dialect) => {
  let loc: DbLocation;
  let db: Db;
  let registry: RegistryService;
  const onnx = demoModel().onnx;

  beforeAll(async () => {
    loc = freshDb(dialect);
    db = await openDb(loc);
    await migrate(db);
    registry = createRegistryService({
      store: createRegistryStore(db),
      artifacts: createDirArtifactStore(tempDir()),
      clock: { now: () => new Date() },
      log,
      smokeTest,
      maxModelBytes: 10_000_000,
    });
  });
  afterAll(async () => {
    await db?.close();
    await dropDb(loc);
  });

  const code = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return (e as AppError).code;
    }
    return 'no error';
  };

  it('migrations are idempotent: a second run applies nothing', async () => {
    const again = await migrate(db);
    expect(again.results).toEqual([]);
  });

  it('numbers versions per model, starting at 1, and concurrent registrations get distinct numbers', async () => {
    const a = await registry.register({ model: 'alpha', onnx, actor: 'test' });
    const b = await registry.register({ model: 'beta', onnx, actor: 'test' });
    expect([a.version, b.version]).toEqual([1, 1]);
    const many = await Promise.all([1, 2, 3, 4].map(() => registry.register({ model: 'alpha', onnx, actor: 'test' })));
    expect(many.map((r) => r.version).sort()).toEqual([2, 3, 4, 5]);
    // Identical bytes are stored once: every version names the same content hash.
    expect(new Set(many.map((r) => r.onnx_sha256)).size).toBe(1);
    const models = await registry.listModels();
    expect(models.find((m) => m.name === 'alpha')).toMatchObject({ latest_version: 5, version_count: 5 });
  });

  it('bumps the registry revision on every change, which replicas poll', async () => {
    const before = await registry.source.revision();
    await registry.register({ model: 'gamma', onnx, actor: 'test' });
    await registry.promote({ model: 'gamma', target: 'production', version: 1, actor: 'test' });
    expect(await registry.source.revision()).toBe(before + 2);
  });

  it('rejects a truncated or non-ONNX file and creates nothing', async () => {
    const before = await registry.listModels();
    expect(await code(registry.register({ model: 'broken', onnx: onnx.subarray(0, 200), actor: 'test' }))).toBe('INVALID_MODEL');
    expect(await code(registry.register({ model: 'broken', onnx: Buffer.from('not a model at all'), actor: 'test' }))).toBe('INVALID_MODEL');
    expect(await registry.listModels()).toEqual(before);
  });

  it('asks for feature names for a single matrix input, and checks their count', async () => {
    const { onnx: numeric } = fixture('telco_numeric');
    expect(await code(registry.register({ model: 'numeric', onnx: numeric, actor: 'test' }))).toBe('INVALID_MODEL');
    expect(await code(registry.register({ model: 'numeric', onnx: numeric, featureNames: ['a', 'b'], actor: 'test' }))).toBe('INVALID_MODEL');
    const r = await registry.register({ model: 'numeric', onnx: numeric, manifest: { feature_names: ['a', 'b', 'c', 'd'] }, actor: 'test' });
    expect(r.manifest.contract).toMatchObject({ layout: 'matrix', features: [{ name: 'a', index: 0 }, { name: 'b' }, { name: 'c' }, { name: 'd', index: 3 }] });
  });

  it('refuses feature names no JSON request could send: empty, or __proto__', async () => {
    const { onnx: numeric } = fixture('telco_numeric');
    const refusal = (names: string[]) => registry.register({ model: 'unsendable', onnx: numeric, featureNames: names, actor: 'test' }).catch((e: AppError) => e);
    const empty = await refusal(['a', '', 'c', 'd']);
    expect(empty).toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/feature 2 of --feature-names \(feature_names in the manifest\) has an empty name/) });
    const proto = await refusal(['a', '__proto__', 'c', 'd']);
    expect(proto).toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/named __proto__, which no request can send/) });
    expect((await registry.listModels()).some((m) => m.name === 'unsendable')).toBe(false);
  });

  it('rejects a manifest with unknown keys, naming them', async () => {
    const e = await registry.register({ model: 'alpha', onnx, manifest: { polcy: {} }, actor: 'test' }).catch((x: AppError) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).message).toMatch(/polcy/);
  });

  it('promote, slots, activate and rollback keep a history that rollback walks back', async () => {
    expect(await registry.promote({ model: 'alpha', target: 'production', version: 1, actor: 'alice' })).toMatchObject({ previous_version: null, changed: true });
    // The alias names the version already: said, and nothing recorded that a rollback would walk back to.
    expect(await registry.promote({ model: 'alpha', target: 'production', version: 1, actor: 'alice' })).toMatchObject({ version: 1, previous_version: 1, changed: false });
    expect((await registry.getModel('alpha')).alias_history).toHaveLength(1);
    expect(await registry.promote({ model: 'alpha', target: 'production', version: 2, actor: 'alice' })).toMatchObject({ previous_version: 1, changed: true });
    await registry.promote({ model: 'alpha', target: 'production', version: 3, actor: 'bob' });
    let r = await registry.rollback({ model: 'alpha', actor: 'carol' });
    expect(r).toMatchObject({ alias: 'production', version: 2, rolled_back_from: 3 });
    r = await registry.rollback({ model: 'alpha', actor: 'carol' });
    expect(r.version).toBe(1);
    expect(await code(registry.rollback({ model: 'alpha', actor: 'carol' }))).toBe('CONFLICT');

    await registry.promote({ model: 'alpha', target: 'blue', version: 4, actor: 'dave' });
    await registry.promote({ model: 'alpha', target: 'green', version: 5, actor: 'dave' });
    const act = await registry.promote({ model: 'alpha', target: 'green', activate: true, actor: 'dave' });
    expect(act).toMatchObject({ alias: 'production', version: 5, previous_version: 1 });
    const m = await registry.getModel('alpha');
    expect(m.aliases).toEqual({ production: 5, blue: 4, green: 5 });
    expect(m.alias_history[0]).toMatchObject({ alias: 'production', version: 5, previous_version: 1, action: 'activate', actor: 'dave' });
    r = await registry.rollback({ model: 'alpha', actor: 'erin' });
    expect(r.version).toBe(1);
    expect(await code(registry.promote({ model: 'alpha', target: 'blue', activate: true, version: 2, actor: 'x' }))).toBe('BAD_REQUEST');
    expect(await code(registry.promote({ model: 'alpha', target: 'purple', activate: true, actor: 'x' }))).toBe('CONFLICT');
  });

  it('activating a slot with the version it must hold: refused, changing nothing, when the slot moved since', async () => {
    // green holds 5; an operator checked it when it held 4.
    const e = (await registry.promote({ model: 'alpha', target: 'green', activate: true, expectSlot: 4, actor: 'x' }).catch((x: unknown) => x)) as AppError;
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe('CONFLICT');
    expect(e.message).toBe('slot green of alpha holds version 5, not 4: it moved since; nothing activated (run modelgate models alpha to see the history)');
    expect((await registry.getModel('alpha')).aliases.production).toBe(1);
    expect(await code(registry.promote({ model: 'alpha', target: 'blue', version: 3, expectSlot: 4, actor: 'x' }))).toBe('BAD_REQUEST');
    expect(await registry.promote({ model: 'alpha', target: 'blue', activate: true, expectSlot: 4, actor: 'x' })).toMatchObject({ alias: 'production', version: 4, previous_version: 1 });
    expect((await registry.rollback({ model: 'alpha', actor: 'x' })).version).toBe(1);
  });

  it('a move to a version that decides other things is allowed and said; the same decisions at another threshold are not', async () => {
    const warnings = (r: object) => (r as { warnings?: string[] }).warnings;
    const bands = THREE_BANDS;
    await registry.register({ model: 'decider', onnx, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' });
    await registry.register({ model: 'decider', onnx, policy: bands, actor: 't' });
    await registry.register({ model: 'decider', onnx, policy: { type: 'threshold', threshold: 0.3, above: 'act', below: 'none' }, actor: 't' });
    expect(await registry.promote({ model: 'decider', target: 'production', version: 1, actor: 't' })).not.toHaveProperty('warnings');
    expect(warnings(await registry.promote({ model: 'decider', target: 'production', version: 2, actor: 't' }))).toEqual([
      'production of decider now decides allow, review, block (version 2) where version 1 decided none, act: its clients get decisions they were never given; if that was not meant, roll back (modelgate rollback --model decider)',
    ]);
    expect(warnings(await registry.promote({ model: 'decider', target: 'production', version: 3, actor: 't' }))).toHaveLength(1);
    expect(await registry.promote({ model: 'decider', target: 'production', version: 1, actor: 't' })).not.toHaveProperty('warnings');
    await registry.promote({ model: 'decider', target: 'green', version: 1, actor: 't' });
    expect(warnings(await registry.promote({ model: 'decider', target: 'green', version: 2, actor: 't' }))![0]).toMatch(
      /^green of decider now decides .*roll back \(modelgate rollback --model decider --slot green\)$/,
    );
  });

  it('a move to a version that takes none of its inputs is refused unless accepted (a graph registered under the wrong model)', async () => {
    const warnings = (r: object) => (r as { warnings?: string[] }).warnings;
    const telco = fixture('telco_churn').onnx;
    await registry.register({ model: 'inputs', onnx, actor: 't' });
    await registry.register({ model: 'inputs', onnx: telco, actor: 't' });
    await registry.register({ model: 'inputs', onnx: telco, missingCategory: 'missing', actor: 't' });
    await registry.promote({ model: 'inputs', target: 'production', version: 1, actor: 't' });
    // The telco pipeline's 19 inputs (4 numbers, then 15 strings with no missing category) share no name with the hotel model's.
    const refused = await registry.promote({ model: 'inputs', target: 'production', version: 2, actor: 't' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('CONFLICT');
    expect((refused as AppError).message).toBe(
      "version 2 of inputs takes none of version 1's features (its 19: SeniorCitizen, tenure, MonthlyCharges, TotalCharges, gender and 14 more): requests made for version 1 are refused (400) without gender, Partner, Dependents and 12 more; production stays at version 1. Is inputs the model you meant? Register the graph under its own model name; or, if production's clients change their requests with it (sending both versions' features meanwhile: a field a version does not take is ignored), promote it with --accept-new-inputs (accept_new_inputs: true).",
    );
    expect((refused as AppError).details).toMatchObject({ alias: 'production', version: 2, previous_version: 1, field: 'accept_new_inputs' });
    expect((await registry.getModel('inputs')).aliases).toEqual({ production: 1 });
    // A slot moves the same way: its pinned clients would meet the same.
    await registry.promote({ model: 'inputs', target: 'blue', version: 1, actor: 't' });
    expect(await code(registry.promote({ model: 'inputs', target: 'blue', version: 2, actor: 't' }))).toBe('CONFLICT');
    // Accepted: moved, and said.
    expect(warnings(await registry.promote({ model: 'inputs', target: 'production', version: 2, acceptNewInputs: true, actor: 't' }))).toEqual([
      "production of inputs is now version 2, which takes none of version 1's features (its 19: SeniorCitizen, tenure, MonthlyCharges, TotalCharges, gender and 14 more): requests made for version 1 are refused (400) without gender, Partner, Dependents and 12 more; if that was not meant, roll back (modelgate rollback --model inputs)",
    ]);
    // A rollback restores what production served: never refused.
    expect((await registry.rollback({ model: 'inputs', actor: 't' })).version).toBe(1);
    await registry.promote({ model: 'inputs', target: 'production', version: 2, acceptNewInputs: true, actor: 't' });
    // The same inputs (a missing category only makes missing strings scored): nothing to say.
    expect(await registry.promote({ model: 'inputs', target: 'production', version: 3, actor: 't' })).not.toHaveProperty('warnings');
    // The model's versions say what production's requests meet in each (GET /v1/models/:name, the console's versions table).
    const listed = (await registry.getModel('inputs')).versions.map((v) => [v.version, v.inputs_unlike_production]);
    expect(listed[0][1]).toMatch(/^takes none of production \(version 3\)'s features \(its \d+: .*\): requests made for production \(version 3\) are /);
    expect(listed.slice(1)).toEqual([
      [2, null],
      [3, null],
    ]);
    expect((await registry.getVersion('inputs', 1)).inputs_unlike_production).toBe(listed[0][1]);
  });

  it('a move to a version that shares some inputs is allowed and said', async () => {
    const numeric = fixture('telco_numeric');
    // Four numbers, all of them the telco pipeline's too; the pipeline adds 15 strings.
    await registry.register({ model: 'some-inputs', onnx: numeric.onnx, featureNames: numeric.expected.feature_names, actor: 't' });
    await registry.register({ model: 'some-inputs', onnx: fixture('telco_churn').onnx, actor: 't' });
    await registry.promote({ model: 'some-inputs', target: 'production', version: 1, actor: 't' });
    const moved = await registry.promote({ model: 'some-inputs', target: 'production', version: 2, actor: 't' });
    expect(moved.version).toBe(2);
    expect((moved as { warnings?: string[] }).warnings).toEqual([
      expect.stringMatching(/^production of some-inputs is now version 2, which takes 15 features version 1 did not \(gender, Partner, .*\): requests made for version 1 are refused \(400\) without /),
    ]);
    // Back to the four numbers: every request made for version 2 carries them (the rest is ignored).
    expect(await registry.promote({ model: 'some-inputs', target: 'production', version: 1, actor: 't' })).not.toHaveProperty('warnings');
  });

  it('archives only versions no alias points at; archived versions cannot be promoted', async () => {
    expect(await code(registry.promote({ model: 'alpha', target: 'archived', version: 1, actor: 'x' }))).toBe('CONFLICT');
    expect(await registry.promote({ model: 'alpha', target: 'archived', version: 2, actor: 'x' })).toMatchObject({ status: 'archived', changed: true });
    expect((await registry.getVersion('alpha', 2)).status).toBe('archived');
    expect(await registry.promote({ model: 'alpha', target: 'archived', version: 2, actor: 'x' })).toMatchObject({ status: 'archived', changed: false });
    expect(await code(registry.promote({ model: 'alpha', target: 'production', version: 2, actor: 'x' }))).toBe('CONFLICT');
    expect(await registry.promote({ model: 'alpha', target: 'active', version: 2, actor: 'x' })).toMatchObject({ status: 'active', changed: true });
    expect(await registry.promote({ model: 'alpha', target: 'active', version: 2, actor: 'x' })).toMatchObject({ status: 'active', changed: false });
    await registry.promote({ model: 'alpha', target: 'production', version: 2, actor: 'x' });
    expect((await registry.getModel('alpha')).aliases.production).toBe(2);
  });

  it('unknown models and versions are 404 codes', async () => {
    expect(await code(registry.getModel('nope'))).toBe('MODEL_NOT_FOUND');
    expect(await code(registry.getVersion('alpha', 99))).toBe('VERSION_NOT_FOUND');
    expect(await code(registry.promote({ model: 'alpha', target: 'production', version: 99, actor: 'x' }))).toBe('VERSION_NOT_FOUND');
    expect(await code(registry.register({ model: 'Bad Name!', onnx, actor: 'x' }))).toBe('BAD_REQUEST');
  });

  it('verify passes on a clean store', async () => {
    const results = await registry.verify();
    expect(results.length).toBeGreaterThan(5);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });
});
