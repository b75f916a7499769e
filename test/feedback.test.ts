import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS, tempDir } from './helpers/db.js';
import { demoModel, kindFixture } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

for (const dialect of DIALECTS) {
  describe(`feedback on ${dialect}`, () => {
    let s: TestServer;
    let feedbackToken = '';
    let inferToken = '';
    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      feedbackToken = (await s.ctx.access.create({ name: 'crm', scopes: ['feedback'], actor: 't' })).token;
      inferToken = (await s.ctx.access.create({ name: 'app', scopes: ['infer'], actor: 't' })).token;
    });
    afterAll(() => s?.stop());

    const post = async (url: string, body: unknown, token = feedbackToken) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };
    const predict = async (i: number, eventId?: string) =>
      (await post('/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, i), ...(eventId ? { event_id: eventId } : {}) }, inferToken)).body.prediction_id as string;

    it('one outcome by prediction_id, and by event_id moments after the prediction', async () => {
      const id = await predict(0);
      // Not flushed yet: the feedback route writes the queued audit records before giving up.
      const r = await post('/v1/feedback', { prediction_id: id, label: 1, value: -120.5 });
      expect(r).toMatchObject({ status: 200, body: { stored: 1, failed: 0, results: [{ index: 0, status: 'stored', prediction_id: id }] } });
      expect(await s.ctx.feedback.get(id)).toMatchObject({ prediction_id: id, model: 'hotel', label: 1, value: -120.5 });
      // The words train reads as a binary target, in any case.
      const yes = await predict(4);
      expect((await post('/v1/feedback', { prediction_id: yes, label: 'Yes' })).body.results[0]).toMatchObject({ status: 'stored' });
      expect(await s.ctx.feedback.get(yes)).toMatchObject({ label: 1 });
      expect((await post('/v1/feedback', { prediction_id: yes, label: 'N' })).body.results[0]).toMatchObject({ status: 'stored' });
      expect(await s.ctx.feedback.get(yes)).toMatchObject({ label: 0 });
      const byEvent = await predict(1, 'booking-77');
      const e = await post('/v1/feedback', { event_id: 'booking-77', label: false });
      expect(e.body.results[0]).toMatchObject({ status: 'stored', prediction_id: byEvent });
      expect(await s.ctx.feedback.get(byEvent)).toMatchObject({ label: 0, value: null, event_id: 'booking-77' });
    });

    it('batch predict with event_ids: each prediction carries its own, echoed and audited, and feedback finds it by it', async () => {
      const instances = [5, 6, 7].map((i) => rowPayload(demo.holdout.data, i));
      const batch = await post('/v1/models/hotel/predict', { instances, event_ids: ['order-5', 'order-6', 'order-7'] }, inferToken);
      expect(batch.status, JSON.stringify(batch.body)).toBe(200);
      const predictions = batch.body.predictions as { prediction_id: string; event_id: string }[];
      expect(predictions.map((p) => p.event_id)).toEqual(['order-5', 'order-6', 'order-7']);
      const r = await post('/v1/feedback', { items: ['order-7', 'order-5'].map((event_id) => ({ event_id, label: 1 })) });
      expect(r.body.results.map((x: { prediction_id: string }) => x.prediction_id)).toEqual([predictions[2].prediction_id, predictions[0].prediction_id]);
      expect(await s.ctx.feedback.get(predictions[2].prediction_id)).toMatchObject({ label: 1, event_id: 'order-7' });
      // Without them, no event ids; with as many ids as rows only.
      const plain = await post('/v1/models/hotel/predict', { instances }, inferToken);
      expect(plain.body.predictions.map((p: Record<string, unknown>) => p.event_id)).toEqual([undefined, undefined, undefined]);
      const short = await post('/v1/models/hotel/predict', { instances, event_ids: ['order-8'] }, inferToken);
      expect(short).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'event_ids: 1 id for 3 instances; give one per instance, in the same order' } } });
    });

    it('reporting again replaces the outcome, and says so: replaced, and changed when the outcome differs', async () => {
      const id = await predict(2);
      const first = (await post('/v1/feedback', { prediction_id: id, label: 1 })).body;
      expect(first).toMatchObject({ stored: 1, replaced: 0, changed: 0 });
      expect(first.results[0]).toEqual({ index: 0, status: 'stored', prediction_id: id });
      const other = (await post('/v1/feedback', { prediction_id: id, label: 0, value: 10 })).body;
      expect(other).toMatchObject({ stored: 1, replaced: 1, changed: 1 });
      expect(other.results[0]).toEqual({ index: 0, status: 'stored', prediction_id: id, replaced: true, changed: true });
      expect(await s.ctx.feedback.get(id)).toMatchObject({ label: 0, value: 10 });
      // The same outcome with another realised value: replaced, not changed.
      const again = (await post('/v1/feedback', { prediction_id: id, label: 'no', value: 12 })).body;
      expect(again).toMatchObject({ stored: 1, replaced: 1, changed: 0 });
      expect(again.results[0]).toEqual({ index: 0, status: 'stored', prediction_id: id, replaced: true });
    });

    it('a single bad item gets the usual error reply: unknown prediction 404, bad label 400', async () => {
      expect(await post('/v1/feedback', { prediction_id: 'nope', label: 1 })).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: expect.stringContaining('nope') } } });
      expect(await post('/v1/feedback', { event_id: 'booking-none', label: 1 })).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: expect.stringMatching(/^no prediction with event_id booking-none in the audit log/) } },
      });
      const id = await predict(3);
      expect(await post('/v1/feedback', { prediction_id: id, label: 'maybe' })).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/label: hotel version 1 is a binary model; expected 0, 1, true, false, yes or no, got "maybe"/) } },
      });
      expect(await post('/v1/feedback', { label: 1 })).toMatchObject({ status: 400 });
      // The outcome sent as value (a regression client's natural guess): where it goes instead.
      expect(await post('/v1/feedback', { prediction_id: id, value: 12760 })).toMatchObject({
        status: 400,
        body: {
          error: {
            message:
              'body.label: give the real outcome (binary 0 or 1, multiclass the class, regression the value); "value" is what acting on the prediction earned or cost, not the outcome: the real value of a regression model\'s prediction goes in "label" (for example "label": 12760)',
          },
        },
      });
      expect(await post('/v1/feedback', { prediction_id: id, label: 1, value: 'lots' })).toMatchObject({ status: 400 });
    });

    it('a batch of 1,000: each item stored or refused on its own', async () => {
      const ids = (await post('/v1/models/hotel/predict', { instances: Array.from({ length: 400 }, (_, i) => rowPayload(demo.holdout.data, i)) }, inferToken)).body.predictions.map(
        (p: { prediction_id: string }) => p.prediction_id,
      );
      await s.audit.flush();
      const items = Array.from({ length: 1000 }, (_, i) =>
        i < 400 ? { prediction_id: ids[i], label: i % 2, value: i } : i < 900 ? { prediction_id: `unknown-${i}`, label: 1 } : { prediction_id: ids[i - 900], label: 7 },
      );
      const r = await post('/v1/feedback', { items });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ stored: 400, failed: 600 });
      expect(r.body.results[450]).toMatchObject({ index: 450, status: 'error', error: { code: 'NOT_FOUND' } });
      expect(r.body.results[950]).toMatchObject({ index: 950, status: 'error', error: { code: 'VALIDATION_FAILED' } });
      expect(await s.ctx.feedback.get(ids[399])).toMatchObject({ label: 1, value: 399 });
      expect((await post('/v1/feedback', { items: Array.from({ length: 1001 }, () => ({ prediction_id: ids[0], label: 1 })) })).status).toBe(400);
      expect((await post('/v1/feedback', { items: [] })).status).toBe(400);
    });

    it('an event_id two models scored: feedback names the model, or is refused naming the models', async () => {
      // A fraud and a credit model scoring one transaction: whose outcome "tx-9 was 1" is, only the caller knows.
      await s.ctx.registry.register({ model: 'hotel-credit', onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'hotel-credit', target: 'production', version: 1, actor: 't' });
      await s.pool.refresh(true);
      const hotel = await predict(8, 'tx-9');
      const credit = (await post('/v1/infer', { model: 'hotel-credit', payload: rowPayload(demo.holdout.data, 9), event_id: 'tx-9' }, inferToken)).body.prediction_id as string;
      expect(await post('/v1/feedback', { event_id: 'tx-9', label: 1 })).toMatchObject({
        status: 400,
        body: { error: { code: 'VALIDATION_FAILED', message: 'body: event_id tx-9 was scored by 2 models (hotel, hotel-credit); give model to say whose outcome this is' } },
      });
      expect(await s.ctx.feedback.get(hotel)).toBeUndefined();
      expect(await s.ctx.feedback.get(credit)).toBeUndefined();
      const named = await post('/v1/feedback', {
        items: [
          { event_id: 'tx-9', model: 'hotel-credit', label: 1 },
          { event_id: 'tx-9', model: 'hotel', label: 0 },
        ],
      });
      expect(named.body.results).toEqual([
        { index: 0, status: 'stored', prediction_id: credit },
        { index: 1, status: 'stored', prediction_id: hotel },
      ]);
      expect(await s.ctx.feedback.get(credit)).toMatchObject({ model: 'hotel-credit', label: 1 });
      expect(await s.ctx.feedback.get(hotel)).toMatchObject({ model: 'hotel', label: 0 });
      // A prediction id is checked against the model named with it.
      expect(await post('/v1/feedback', { prediction_id: hotel, model: 'hotel-credit', label: 1 })).toMatchObject({
        status: 400,
        body: { error: { message: `body.model: prediction ${hotel} was made by model hotel, not hotel-credit` } },
      });
      expect(await s.ctx.feedback.get(hotel)).toMatchObject({ label: 0 });
      expect(await post('/v1/feedback', { event_id: 'booking-77', model: 'hotel-credit', label: 1 })).toMatchObject({
        status: 404,
        body: { error: { message: expect.stringMatching(/^no prediction of model hotel-credit with event_id booking-77 in the audit log/) } },
      });
      // One event id twice in one batch (the same time): the later instance is the latest prediction of it.
      const twice = (await post('/v1/models/hotel/predict', { instances: [10, 11].map((i) => rowPayload(demo.holdout.data, i)), event_ids: ['tx-10', 'tx-10'] }, inferToken)).body.predictions as {
        prediction_id: string;
      }[];
      expect((await post('/v1/feedback', { event_id: 'tx-10', label: 1 })).body.results[0].prediction_id).toBe(twice[1].prediction_id);
    });

    it('needs the feedback scope', async () => {
      expect((await post('/v1/feedback', { prediction_id: 'x', label: 1 }, inferToken)).status).toBe(403);
    });
  });
}

describe('modelgate feedback import', () => {
  const dir = tempDir();
  let s: TestServer;
  const events: string[] = [];
  beforeAll(async () => {
    s = await startTestServer({ db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') }, dataDir: dir, jobs: false });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    for (let i = 0; i < 5; i++) {
      await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, i), event_id: `bk-${i}` }),
      });
      events.push(`bk-${i}`);
    }
    await s.audit.flush();
  });
  afterAll(() => s?.stop());
  /** `feedback import --json` of a file of these lines. */
  const importCsv = async (name: string, lines: string[]) => {
    const file = path.join(dir, name);
    writeFileSync(file, [...lines, ''].join('\n'));
    return { file, r: await runCli(['feedback', 'import', '--file', file, '--json'], { MODELGATE_DATA_DIR: dir }) };
  };

  it('stores the good rows and names the line of each refused one', async () => {
    // Yes/No as in telco churn's Churn column, which train reads as a binary target.
    const { file, r } = await importCsv('outcomes.csv', [
      'Event_ID,label,value',
      'bk-0,1,-100',
      'bk-1,0,',
      'bk-2,true,12.5',
      'bk-3,perhaps,1',
      'bk-404,1,1',
      '"bk-4",FALSE,0',
      'bk-1, Yes ,',
      'bk-0,no,',
    ]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      rows: 8,
      stored: 6,
      refused: 2,
      refused_by: { no_prediction: 1, invalid: 1, misaligned: 0 },
      errors: [
        { line: 5, message: expect.stringMatching(/label/) },
        { line: 6, message: expect.stringMatching(/bk-404/) },
      ],
    });
    const text = await runCli(['feedback', 'import', '--file', file], { MODELGATE_DATA_DIR: dir });
    // The last two lines replaced bk-1's 0 with Yes and bk-0's 1 with no.
    const byEvent = async (e: string) => (await s.ctx.db.kysely.selectFrom('feedback').select('label').where('event_id', '=', e).executeTakeFirst())?.label;
    expect(await byEvent('bk-1')).toBe(1);
    expect(await byEvent('bk-0')).toBe(0);
    expect(await byEvent('bk-4')).toBe(0);
    expect(text.stdout).toMatch(/6 of 8 outcomes stored/);
    expect(text.stdout).toContain(
      '2 refused: 1 with no prediction of that id in the audit log (not scored, or scored under another id; a prediction made in the last second on another replica may not be written yet: import the file again); 1 with an outcome or id the model cannot take\n',
    );
    expect(text.stdout).toMatch(/line 5: .*label/);
    // The hint is said once, not on each line; some rows matched, so the columns are not doubted.
    expect(text.stdout).toContain('  line 6: no prediction with event_id bk-404 in the audit log\n');
    expect(text.stdout).not.toContain('no row matched');
    // A row without an id: the message without a stray colon (it read "line 2: : give prediction_id or event_id").
    const blank = await runCli(['feedback', 'import', '--file', (await importCsv('blank-ids.csv', ['event_id,label', ',1', 'bk-2,1'])).file], { MODELGATE_DATA_DIR: dir });
    expect(blank.stdout).toContain('  line 2: give prediction_id or event_id\n');
    // A file none of whose ids match (the wrong column named, or another database): said so, with the column read.
    const { file: strangers } = await importCsv('strangers.csv', ['customer,outcome', 'cust-1,1', 'cust-2,0']);
    const none = await runCli(['feedback', 'import', '--file', strangers, '--event-id', 'customer', '--label', 'outcome'], { MODELGATE_DATA_DIR: dir });
    expect(none.code).toBe(1);
    expect(none.stdout).toContain(
      'no row matched a prediction: does column "customer" hold the event_id each request to /v1/infer sent (or "prediction_id" the prediction_id it answered)? And is this the server\'s database (DATABASE_URL, or MODELGATE_DATA_DIR for SQLite)?\n',
    );
    const missing = await runCli(['feedback', 'import', '--file', path.join(dir, 'nope.csv')], { MODELGATE_DATA_DIR: dir });
    expect(missing.code).toBe(2);
    // A pandas export of a label column with a gap: 1.0 and 0.0, and a blank where the outcome is not known yet.
    const floats = path.join(dir, 'floats.csv');
    // And NA or ?, which the trainer and evaluate read as no label (the bank churn file has a ?): no outcome yet either.
    writeFileSync(floats, ['event_id,label', 'bk-2,1.0', 'bk-3,0.0', 'bk-4,', 'bk-4,?', 'bk-4, NA ', ''].join('\n'));
    const imported = await runCli(['feedback', 'import', '--file', floats, '--json'], { MODELGATE_DATA_DIR: dir });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.json()).toMatchObject({ rows: 5, stored: 2, unlabelled: 3, refused: 0 });
    const said = await runCli(['feedback', 'import', '--file', floats], { MODELGATE_DATA_DIR: dir });
    // Imported a second time: the same two outcomes again, replacing themselves.
    expect(said.stdout).toBe(
      `2 of 5 outcomes stored from ${floats} (2 replacing an outcome stored before, 0 of them with another outcome); 3 rows with no label (blank, or a missing-value token such as NA or ?: no outcome yet) left out\n`,
    );
    expect(await byEvent('bk-2')).toBe(1);
    expect(await byEvent('bk-3')).toBe(0);
    // The blank left bk-4's earlier outcome as it was.
    expect(await byEvent('bk-4')).toBe(0);
  });

  it('--model, or a model column, says whose outcomes they are where two models scored the same event ids', async () => {
    await s.ctx.registry.register({ model: 'hotel-b', onnx: demo.onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel-b', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    const ids: Record<string, string> = {};
    for (const [model, event] of [
      ['hotel', 'both-1'],
      ['hotel-b', 'both-1'],
      ['hotel', 'both-2'],
      ['hotel-b', 'both-2'],
    ]) {
      const r = await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model, payload: rowPayload(demo.holdout.data, 1), event_id: event }),
      });
      ids[`${model}/${event}`] = r.json().prediction_id;
    }
    await s.audit.flush();
    const label = async (model: string, event: string) => (await s.ctx.feedback.get(ids[`${model}/${event}`]))?.label;
    const { file } = await importCsv('both.csv', ['event_id,label', 'both-1,1', 'both-2,0']);
    const vague = await runCli(['feedback', 'import', '--file', file], { MODELGATE_DATA_DIR: dir });
    expect(vague.code).toBe(1);
    expect(vague.stdout).toContain('  line 2: event_id both-1 was scored by 2 models (hotel, hotel-b); give model to say whose outcome this is\n');
    expect(await label('hotel', 'both-1')).toBeUndefined();
    const flagged = await runCli(['feedback', 'import', '--file', file, '--model', 'hotel-b', '--json'], { MODELGATE_DATA_DIR: dir });
    expect(flagged.code, flagged.stdout).toBe(0);
    expect(flagged.json()).toMatchObject({ stored: 2, refused: 0 });
    expect([await label('hotel-b', 'both-1'), await label('hotel-b', 'both-2'), await label('hotel', 'both-1')]).toEqual([1, 0, undefined]);
    const misspelt = await runCli(['feedback', 'import', '--file', file, '--model', 'hotell'], { MODELGATE_DATA_DIR: dir });
    expect(misspelt.code).toBe(1);
    expect(misspelt.stderr).toMatch(/hotell/);
    expect(misspelt.stdout).toBe('');
    const { file: columned } = await importCsv('both-models.csv', ['event_id,model,label', 'both-1,hotel,0', 'both-2,hotel,1']);
    const r = await runCli(['feedback', 'import', '--file', columned, '--json'], { MODELGATE_DATA_DIR: dir });
    expect(r.json()).toMatchObject({ stored: 2, refused: 0 });
    expect([await label('hotel', 'both-1'), await label('hotel', 'both-2'), await label('hotel-b', 'both-1')]).toEqual([0, 1, 1]);
  });

  it('a missing-value word that is a class of the prediction\'s model is that class (bank churn\'s Geography has "?"), else no outcome', async () => {
    // The bank churn multiclass pipeline learned "?" as a Geography class (pandas reads "?" as text).
    const geo = kindFixture('bank_geography');
    expect(geo.expected.classes).toContain('?');
    await s.ctx.registry.register({ model: 'geo', onnx: geo.onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'geo', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    for (let i = 0; i < 3; i++) {
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'geo', payload: geo.expected.rows[i], event_id: `geo-${i}` }),
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    await s.audit.flush();
    const { r } = await importCsv('geography.csv', ['event_id,label', 'geo-0,?', 'geo-1,NA', 'geo-2,Spain', 'bk-3,?', 'unscored,NA']);
    expect(r.code, r.stderr).toBe(0);
    // geo-0's "?" is the class; geo-1's NA is no class of the model; bk-3's "?" is no binary outcome; nor is the unscored row's NA.
    expect(r.json()).toMatchObject({ rows: 5, stored: 2, unlabelled: 3, refused: 0 });
    const actual = async (e: string) => (await s.ctx.db.kysely.selectFrom('feedback').select('actual_class').where('event_id', '=', e).executeTakeFirst())?.actual_class;
    expect(await actual('geo-0')).toBe('?');
    expect(await actual('geo-2')).toBe('Spain');
    expect(await actual('geo-1')).toBeUndefined();
  });

  it('refuses a row whose fields do not line up with the header, by its line, and stores the others', async () => {
    // Line 3: a value written 1,234.5 without quotes (csv-parse stopped the whole file there).
    const { file, r } = await importCsv('ragged.csv', ['event_id,label,value', 'bk-0,1,-100', 'bk-1,0,1,234.5', 'bk-2,1', 'bk-3,0,7']);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      rows: 4,
      stored: 2,
      refused: 2,
      refused_by: { no_prediction: 0, invalid: 0, misaligned: 2 },
      errors: [
        { line: 3, message: "more fields than the header's 3: a comma in a field that is not quoted, such as a number written 1,234" },
        { line: 4, message: "fewer fields than the header's 3: the row is cut short" },
      ],
    });
    const value = async (e: string) => (await s.ctx.db.kysely.selectFrom('feedback').select('value').where('event_id', '=', e).executeTakeFirst())?.value;
    expect(await value('bk-3')).toBe(7);
    // A column it reads named twice: refused before anything is stored.
    writeFileSync(file, ['event_id,label,label', 'bk-0,0,1', ''].join('\n'));
    const twice = await runCli(['feedback', 'import', '--file', file], { MODELGATE_DATA_DIR: dir });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/the header names column "label" twice/);
    expect(await value('bk-0')).toBe(-100);
  });

  it('a file imported over outcomes stored before says how many it replaced and warns of those it changed', async () => {
    for (let i = 0; i < 3; i++)
      await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, 20 + i), event_id: `fix-${i}` }),
      });
    await s.audit.flush();
    const first = await importCsv('fix.csv', ['event_id,label', 'fix-0,1', 'fix-1,0', 'fix-2,1']);
    expect(first.r.json()).toMatchObject({ stored: 3, replaced: 0, changed: 0 });
    expect(first.r.stderr).not.toContain('warning');
    const same = await runCli(['feedback', 'import', '--file', first.file], { MODELGATE_DATA_DIR: dir });
    expect(same.stdout).toContain(`3 of 3 outcomes stored from ${first.file} (3 replacing an outcome stored before, 0 of them with another outcome)`);
    expect(same.stderr).not.toContain('warning');
    // The labels flipped on two of the three rows (a yes/no mapping read the wrong way round): said, and the file named.
    const flipped = await importCsv('fix-flipped.csv', ['event_id,label', 'fix-0,0', 'fix-1,1', 'fix-2,1']);
    expect(flipped.r.json()).toMatchObject({ stored: 3, replaced: 3, changed: 2 });
    expect(flipped.r.stderr).toContain(
      `warning: 2 of the stored outcomes differ from the outcome their prediction had (of 3 predictions that had one): reporting again replaces an outcome, so if ${flipped.file} is not a correction of what was imported before, import the right file again`,
    );
  });

  it('reads an outcome file as it comes, its columns named by flags: a customer export with the id and Churn columns', async () => {
    const label = async (e: string) => await s.ctx.db.kysely.selectFrom('feedback').select(['label', 'value']).where('event_id', '=', e).executeTakeFirst();
    const file = path.join(dir, 'customers.csv');
    // A stale `label` column beside the real outcome: --label Churn reads Churn, never it.
    writeFileSync(file, ['customerID,tenure,Churn,label,margin', 'bk-0,3,Yes,0,-40', 'bk-1,50,No,1,12', ''].join('\n'));
    const plain = await runCli(['feedback', 'import', '--file', file], { MODELGATE_DATA_DIR: dir });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(
      /no prediction_id or event_id column \(its header is "customerID", "tenure", "Churn", "label", "margin"\), so no row can be matched to its prediction; .*--event-id customerID --label Churn/,
    );
    // The outcome under another name, the only column besides the id: the flag that reads it is named.
    const outcomes = path.join(dir, 'outcomes.csv');
    writeFileSync(outcomes, ['event_id,outcome', 'bk-0,1', ''].join('\n'));
    const unnamed = await runCli(['feedback', 'import', '--file', outcomes], { MODELGATE_DATA_DIR: dir });
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toContain(`${outcomes}: no label column (its header is "event_id", "outcome"); --label outcome reads the outcomes from "outcome"; the header must name`);
    const named = await runCli(['feedback', 'import', '--file', outcomes, '--label', 'outcome', '--json'], { MODELGATE_DATA_DIR: dir });
    expect(named.code, named.stderr).toBe(0);
    expect(named.json()).toMatchObject({ rows: 1, stored: 1 });
    const r = await runCli(['feedback', 'import', '--file', file, '--event-id', 'customerID', '--label', 'churn', '--value', 'margin', '--json'], { MODELGATE_DATA_DIR: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ rows: 2, stored: 2, refused: 0 });
    expect(await label('bk-0')).toEqual({ label: 1, value: -40 });
    expect(await label('bk-1')).toEqual({ label: 0, value: 12 });
    const typo = await runCli(['feedback', 'import', '--file', file, '--event-id', 'customer_id', '--label', 'Churn'], { MODELGATE_DATA_DIR: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/no column "customer_id" \(--event-id\); its header is "customerID", "tenure", "Churn", "label", "margin"/);
    const same = await runCli(['feedback', 'import', '--file', file, '--event-id', 'Churn', '--label', 'Churn'], { MODELGATE_DATA_DIR: dir });
    expect(same.stderr).toMatch(/--label and --event-id both name column "Churn"; each field needs a column of its own/);
    // Nothing those refusals read was stored.
    expect(await label('bk-0')).toEqual({ label: 1, value: -40 });
  });
});
