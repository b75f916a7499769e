import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from '../src/inference/encoder.js';
import { generateHotelBookings } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { DIALECTS } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * The trainer reads a category trimmed and reads NA, ?, NULL … as missing; a version it
 * trained must be served the same way, or a row sent as it stands in the training CSV gets
 * another score than the one the model was evaluated to give (an unseen " Online TA "). The
 * independent check: the same bookings written clean train the same model, and that model's
 * scores of the clean rows are what the dirty rows must get.
 */
for (const dialect of DIALECTS) {
  describe(`a trained version reads text as its trainer did (${dialect})`, () => {
    let s: TestServer;
    const data = generateHotelBookings(3000, 43);
    const numeric = Object.keys(data.numeric);
    const categorical = Object.keys(data.categorical);
    // Every 5th row has no market segment; every 3rd row's categories are padded in the dirty file,
    // and every 40th row's adr is text there ("105.3 EUR", which train reads as missing) and blank in the clean one.
    const adrText = (i: number) => i % 40 === 7;
    const clean = (i: number, c: string) => (c === 'market_segment' && i % 5 === 0 ? '' : data.categorical[c][i]);
    const dirty = (i: number, c: string) => {
      const v = clean(i, c);
      if (v === '') return ['NA', '?', 'NULL', '  '][(i / 5) % 4];
      return i % 3 === 0 ? `  ${v} ` : v;
    };
    let cleanCsv = '';
    let dirtyCsv = '';
    const payload = (i: number, cat: (i: number, c: string) => string | null) => {
      const p: Record<string, unknown> = {};
      for (const n of numeric) p[n] = data.numeric[n][i];
      for (const c of categorical) p[c] = cat(i, c);
      return p;
    };
    const post = async (url: string, body: unknown) => {
      const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: res.json() };
    };

    beforeAll(async () => {
      s = await startTestServer({ dialect, jobs: false });
      const write = (name: string, cat: (i: number, c: string) => string) => {
        const file = path.join(s.dataDir, name);
        const rows = Array.from({ length: data.rows }, (_, i) => [
          ...numeric.map((n) => (n === 'adr' && adrText(i) ? (cat === dirty ? `${data.numeric[n][i]} EUR` : '') : data.numeric[n][i])),
          ...categorical.map((c) => cat(i, c)),
          data.label[i],
        ]);
        writeFileSync(file, stringify([[...numeric, ...categorical, 'cancelled'], ...rows]));
        return file;
      };
      cleanCsv = write('clean.csv', clean);
      dirtyCsv = write('dirty.csv', dirty);
      for (const [model, file] of [
        ['from-clean', cleanCsv],
        ['from-dirty', dirtyCsv],
      ]) {
        const r = await runCli(['train', '--data', file, '--target', 'cancelled', '--model', model, '--algo', 'logreg', '--register', '--json'], s.env);
        expect(r.code, r.stderr).toBe(0);
        await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
      }
      await s.pool.refresh(true);
    }, 120_000);
    afterAll(() => s?.stop());

    it('serves a padded category and a missing-value token as the trainer read them, and evaluate agrees', async () => {
      const version = (await s.app.inject({ method: 'GET', url: '/v1/models/from-dirty/versions/1', headers: s.auth })).json();
      expect(version.manifest.contract.cell_reading).toBe('train');
      for (const i of [0, 3, 5, 6, 10, 15, 30]) {
        const want = (await post('/v1/infer', { model: 'from-clean', payload: payload(i, (j, c) => clean(j, c) || null) })).body.score;
        const got = await post('/v1/infer', { model: 'from-dirty', payload: payload(i, dirty) });
        expect(got.status).toBe(200);
        expect(got.body.score, `row ${i}`).toBeCloseTo(want, 12);
      }
      // A category it never saw: the ones it knows are listed, the missing value as the null a client sends (before: "").
      const unseen = await post('/v1/infer', { model: 'from-clean', payload: { ...payload(1, clean), market_segment: 'Space' } });
      const said = (unseen.body.warnings as string[]).find((w) => w.startsWith('payload.market_segment: "Space"'))!;
      expect(said).toMatch(/\(it knows ("[^"]+", )*null \(a missing value\)(, "[^"]+")*\)$/);
      expect(said).not.toContain('""');
      // A number beyond a double (1e400 parses to Infinity) is scored as missing, as train read an Infinity cell, and the reply names it.
      const withNull = await post('/v1/infer', { model: 'from-dirty', payload: { ...payload(2, clean), adr: null } });
      const huge = await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'from-dirty', payload: { ...payload(2, clean), adr: 12345.678 } }).replace('12345.678', '1e400'),
      });
      expect(huge.statusCode, huge.body).toBe(200);
      expect(huge.json().score).toBe(withNull.body.score);
      expect(huge.json().warnings).toEqual(["payload.adr: a number beyond a double's range (read as Infinity), scored as a missing value, as the version's trainer read such a cell"]);
      expect(withNull.body.warnings).toBeUndefined();
      // The rows as they stand in the two files: the same metrics.
      const evaluate = async (file: string) => {
        const r = await runCli(['evaluate', '--model', 'from-dirty', '--data', file, '--target', 'cancelled', '--json'], s.env);
        expect(r.code, r.stderr).toBe(0);
        return r.json().candidate;
      };
      const [onDirty, onClean] = [await evaluate(dirtyCsv), await evaluate(cleanCsv)];
      expect(onDirty.rows).toBe(3000);
      expect(onDirty.roc_auc).toBeCloseTo(onClean.roc_auc, 12);
      expect(onDirty.log_loss).toBeCloseTo(onClean.log_loss, 12);
    });

    it('score reads a numeric cell that is not a number as missing, as train did, and says how many', async () => {
      const score = async (file: string) => {
        const out = `${file}.scored.csv`;
        const r = await runCli(['score', '--model', 'from-dirty', '--data', file, '--out', out, '--json'], s.env);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        return { summary: r.json(), text: readFileSync(out, 'utf8') };
      };
      const [dirtyScored, cleanScored] = [await score(dirtyCsv), await score(cleanCsv)];
      const textCells = Array.from({ length: data.rows }, (_, i) => i).filter(adrText).length;
      expect(dirtyScored.summary).toMatchObject({ rows: 3000, scored: 3000, rejected: 0, not_numbers: { adr: textCells } });
      expect(cleanScored.summary.not_numbers).toEqual({});
      expect(dirtyScored.text).toBe(cleanScored.text);
      // In words: how many, and one of them (here a minority of the rows: a note, not a warning).
      const words = await runCli(['score', '--model', 'from-dirty', '--data', dirtyCsv, '--out', `${dirtyCsv}.again.csv`], s.env);
      expect(words.stdout).toMatch(new RegExp(`^note: values that are not numbers read as missing, as train read them: ${textCells} in adr \\(such as "[^"]+"\\)$`, 'm'));
    });

    it('drift monitoring bins the window the same way: a padded category is not an unseen one', async () => {
      for (let i = 0; i < 60; i++) expect((await post('/v1/infer', { model: 'from-dirty', payload: payload(i, dirty) })).status).toBe(200);
      // With the nine rows the test above sent (0, 5, 10, 15 and 30 of them without a segment; row 2 twice, its adr null and 1e400).
      const sent = [...Array.from({ length: 60 }, (_, i) => i), 0, 3, 5, 6, 10, 15, 30, 2, 2];
      await s.audit.flush();
      const report = (await post('/v1/monitoring/from-dirty/run', {})).body;
      const segment = report.features.find((f: { name: string }) => f.name === 'market_segment');
      expect(segment.unseen_categories ?? []).toEqual([]);
      // Every 5th row had NA, ?, NULL or a blank for it.
      expect(segment.missing_rate).toBeCloseTo(sent.filter((i) => i % 5 === 0).length / sent.length, 12);
    });
  });
}

describe('an imported version gets its values as sent', () => {
  it('reads as the trainer did only when the contract says cell_reading: train', () => {
    const features = [{ name: 'segment', type: 'string' as const, input: 'segment' }];
    const asSent = createEncoder({ contract_version: 1, layout: 'columns', features, missing_category: 'missing' });
    const trimmed = createEncoder({ contract_version: 1, layout: 'columns', features, missing_category: 'missing', cell_reading: 'train' });
    expect(asSent.encode({ segment: ' Online TA ' }, 'payload').row).toEqual([' Online TA ']);
    expect(asSent.encode({ segment: 'NA' }, 'payload').row).toEqual(['NA']);
    expect(trimmed.encode({ segment: ' Online TA ' }, 'payload').row).toEqual(['Online TA']);
    expect(trimmed.encode({ segment: 'NA' }, 'payload').row).toEqual(['missing']);
    expect(trimmed.encode({ segment: '   ' }, 'payload').row).toEqual(['missing']);
    // Infinity (1e400 in a body) is a value for an imported graph, missing for a trained one, as train read "Infinity".
    const number = [{ name: 'adr', type: 'float' as const, input: 'adr' }];
    expect(createEncoder({ contract_version: 1, layout: 'columns', features: number }).encode({ adr: Infinity }, 'payload').row).toEqual([Infinity]);
    expect(createEncoder({ contract_version: 1, layout: 'columns', features: number, cell_reading: 'train' }).encode({ adr: -Infinity }, 'payload')).toEqual({ row: [NaN], overflowed: [0] });
    expect(createEncoder({ contract_version: 1, layout: 'columns', features: number, cell_reading: 'train' }).encode({ adr: null }, 'payload')).toEqual({ row: [NaN] });
    // A NaN (the Open Inference Protocol's tensors carry a missing value so) is missing, not beyond a double.
    expect(createEncoder({ contract_version: 1, layout: 'columns', features: number, cell_reading: 'train' }).encode({ adr: NaN }, 'payload')).toEqual({ row: [NaN] });
    expect(createEncoder({ contract_version: 1, layout: 'columns', features: number, cell_reading: 'train' }).encode({ adr: 1e308 }, 'payload').row).toEqual([1e308]);
  });
});
