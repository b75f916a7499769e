import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * A client that sends the rows of the file a version was trained on sends its other columns too:
 * the outcome, a constant column and an identifier the trainer left out, a country the GBDT saw
 * too rarely to give it a category of its own. None of those is a typo, and a warning on every
 * request for them buries the ones that are. (On the real hotel bookings file, every reply
 * carried three "unknown field" warnings and a country warning for some 3 % of rows.)
 */
for (const dialect of DIALECTS) {
  describe(`the training file's own columns and categories, served (${dialect})`, () => {
    let s: TestServer;
    const data = generateHotelBookings(1600, 61);
    const numeric = Object.keys(data.numeric);
    const categorical = Object.keys(data.categorical);
    // 32 countries in most rows; every 50th row (none of them held out: the index split holds out row 0 of every 4) a country of its own.
    const countryOf = (i: number) => (i % 50 === 1 ? `R${i}` : `K${String(Math.floor(i / 4) % 32).padStart(2, '0')}`);
    const rows = Array.from({ length: data.rows }, (_, i) => i);
    // Countries of the training rows (not held out) that appear there once: too rare for a category of the graph.
    const trainingCount = new Map<string, number>();
    for (const i of rows) if (i % 4 !== 0) trainingCount.set(countryOf(i), (trainingCount.get(countryOf(i)) ?? 0) + 1);
    const header = [...numeric, ...categorical, 'country', 'arrival_date_year', 'booking_id', 'is_canceled'];
    const csvRow = (i: number) => [...numeric.map((n) => data.numeric[n][i]), ...categorical.map((c) => data.categorical[c][i]), countryOf(i), 2015, `B-${100000 + i}`, data.label[i]];
    const payloadOf = (i: number, country = countryOf(i)) => Object.fromEntries(header.map((h, j) => [h, h === 'country' ? country : csvRow(i)[j]]));
    const call = async (url: string, body: unknown) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };
    let contractCountries: string[] = [];

    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
      const file = path.join(s.dataDir, 'bookings.csv');
      writeFileSync(file, stringify([header, ...rows.map(csvRow)]));
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'hotel', '--rounds', '30', '--register', '--promote', '--json'], s.env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await s.pool.refresh(true);
      const version = (await s.app.inject({ method: 'GET', url: '/v1/models/hotel/versions/1', headers: s.auth })).json();
      contractCountries = version.contract.features.find((f: { name: string }) => f.name === 'country').categories;
    }, 120_000);
    afterAll(() => s?.stop());

    it('a row of the training file: the outcome column is named with where outcomes go, the columns left out at training are not warned of', async () => {
      const i = rows.find((j) => contractCountries.includes(countryOf(j)))!;
      const r = await call('/v1/infer', { model: 'hotel', payload: payloadOf(i) });
      expect(r.status).toBe(200);
      expect(r.body.warnings).toEqual(['payload.is_canceled: the outcome this version predicts, ignored; send outcomes as feedback (POST /v1/feedback naming its prediction_id or event_id)']);
      // A field the training file never had is still a typo to name.
      const typo = await call('/v1/infer', { model: 'hotel', payload: { ...payloadOf(i), is_cancelled: 1, is_canceled: undefined } });
      expect(typo.body.warnings).toEqual(['payload.is_cancelled: unknown field, ignored']);
      // Without those columns, nothing to say; the same score either way.
      const bare = await call('/v1/infer', { model: 'hotel', payload: { ...payloadOf(i), is_canceled: undefined, arrival_date_year: undefined, booking_id: undefined } });
      expect(bare.body.warnings).toBeUndefined();
      expect(bare.body.score).toBe(r.body.score);
    });

    it('a country the training rows had once is no typo, though the graph scores it as unseen; one never in the file is named', async () => {
      const once = [...trainingCount].filter(([, n]) => n === 1).map(([c]) => c);
      expect(once.length).toBeGreaterThan(0);
      // The precondition: the graph has a category for none of them (the GBDT keeps those seen twice or more).
      for (const c of once) expect(contractCountries).not.toContain(c);
      const i = rows.find((j) => countryOf(j) === once[0])!;
      const rare = await call('/v1/infer', { model: 'hotel', payload: { ...payloadOf(i), is_canceled: undefined } });
      expect(rare.status).toBe(200);
      expect(rare.body.warnings).toBeUndefined();
      const unseen = await call('/v1/infer', { model: 'hotel', payload: { ...payloadOf(i, 'Atlantis'), is_canceled: undefined } });
      expect(unseen.body.warnings).toEqual([expect.stringMatching(/^payload\.country: "Atlantis" is not a category this model version knows; scored as an unseen one/)]);
      // Scored alike all the same: the graph has a category for neither.
      expect(unseen.body.score).toBe(rare.body.score);
      // Batch scoring counts the same way: the rare ones are not unseen categories.
      const csv = path.join(s.dataDir, 'rare.csv');
      writeFileSync(csv, stringify([header, ...[i, i].map((j, k) => (k === 0 ? csvRow(j) : csvRow(j).map((v, c) => (header[c] === 'country' ? 'Atlantis' : v))))]));
      const scored = await runCli(['score', '--model', 'hotel', '--data', csv, '--out', `${csv}.out`, '--json'], s.env);
      expect(scored.code, scored.stdout + scored.stderr).toBe(0);
      expect(scored.json()).toMatchObject({ rows: 2, scored: 2, unseen_categories: { country: { rows: 1 } } });
    });

    it('drift monitoring counts a country the training rows had as no new value, one never in the file as new', async () => {
      const rare = rows.filter((j) => countryOf(j).startsWith('R'));
      for (const j of rare) expect((await call('/v1/infer', { model: 'hotel', payload: payloadOf(j) })).status).toBe(200);
      for (const j of rows.slice(0, 40)) expect((await call('/v1/infer', { model: 'hotel', payload: payloadOf(j, j % 8 ? countryOf(j) : 'Atlantis') })).status).toBe(200);
      await s.audit.flush();
      const report = (await call('/v1/monitoring/hotel/run', {})).body;
      const country = report.features.find((f: { name: string }) => f.name === 'country');
      // Atlantis only (5 of these 40 rows, and one sent before), though the reference names 30 countries and the window has 81.
      expect(country.unseen_categories.map((u: { value: string }) => u.value)).toEqual(['Atlantis']);
    });

    it('over the Open Inference Protocol, an input the version was trained without is refused with why', async () => {
      const tensor = (name: string, datatype: string, v: unknown) => ({ name, shape: [1], datatype, data: [v] });
      const constant = await call('/v2/models/hotel/infer', { inputs: [tensor('lead_time', 'FP32', 10), tensor('arrival_date_year', 'FP32', 2015)] });
      expect(constant.status).toBe(400);
      expect(constant.body.error).toMatch(
        /^inputs\[1\]: "arrival_date_year" is not an input of this model: the version was trained without it \(the same value in every row; left out\); leave it out; its inputs are /,
      );
      const id = await call('/v2/models/hotel/infer', { inputs: [tensor('booking_id', 'BYTES', 'B-1')] });
      expect(id.body.error).toMatch(/"booking_id" is not an input of this model: the version was trained without it \(a different value in every row \(an identifier\?\); left out/);
      const target = await call('/v2/models/hotel/infer', { inputs: [tensor('is_canceled', 'INT64', 1)] });
      expect(target.body.error).toMatch(/"is_canceled" is not an input of this model: it is the outcome this version predicts; send outcomes as feedback/);
    });
  });
}
