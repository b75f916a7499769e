import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';

/**
 * Spreadsheets in many locales save "CSV" with semicolons, and databases export tabs. The same
 * bookings written with commas (the independent check), semicolons and tabs must train, evaluate
 * and score alike, and outcomes import from either.
 */
describe('CSV files separated by semicolons or tabs', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const data = generateHotelBookings(2000, 44);
  const cols = [...Object.keys(data.numeric), ...Object.keys(data.categorical)];
  const rows = Array.from({ length: data.rows }, (_, i) => {
    const p = rowPayload(data, i);
    // A decimal comma would not be a number in any of them; the adr keeps its point.
    return [`bk-${i}`, ...cols.map((c) => p[c] ?? ''), data.label[i]];
  });
  const write = (name: string, delimiter: string, cells = rows) => {
    const file = path.join(dir, name);
    writeFileSync(file, stringify([['booking_id', ...cols, 'is_canceled'], ...cells], { delimiter }));
    return file;
  };
  // The semicolon file as such spreadsheets write it: 105,29 for 105.29.
  const decimalCommas = rows.map((r) => r.map((v) => (typeof v === 'number' ? String(v).replace('.', ',') : v)));
  expect(decimalCommas.some((r) => r.some((v) => typeof v === 'string' && /^\d+,\d+$/.test(v)))).toBe(true);
  const files = { comma: write('comma.csv', ','), semicolon: write('semicolon.csv', ';', decimalCommas), tab: write('tab.tsv', '\t') };

  it('train, evaluate and score read them as the comma file, and say how the fields were separated', async () => {
    const trained: Record<string, { auc: number; stderr: string }> = {};
    for (const [name, file] of Object.entries(files)) {
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', `m-${name}`, '--algo', 'logreg', '--exclude', 'booking_id', '--register', '--promote', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      trained[name] = { auc: r.json().metrics.roc_auc, stderr: r.stderr };
      // Every column keeps its role: a decimal comma did not turn adr into text.
      expect(r.json().run.columns.filter((c: { role: string }) => c.role === 'numeric').length, name).toBe(Object.keys(data.numeric).length);
    }
    expect(trained.semicolon.auc).toBe(trained.comma.auc);
    expect(trained.tab.auc).toBe(trained.comma.auc);
    expect(trained.semicolon.stderr).toMatch(/categorical columns \(fields separated by semicolons\)/);
    expect(trained.tab.stderr).toMatch(/\(fields separated by tabs\)/);
    expect(trained.comma.stderr).not.toMatch(/fields separated by/);

    const evaluate = async (file: string) => (await runCli(['evaluate', '--model', 'm-comma', '--data', file, '--target', 'is_canceled', '--json'], env)).json().candidate;
    const [byComma, bySemicolon] = [await evaluate(files.comma), await evaluate(files.semicolon)];
    expect(bySemicolon.rows).toBe(2000);
    expect(bySemicolon.roc_auc).toBe(byComma.roc_auc);

    const score = async (file: string) => {
      const out = `${file}.scored.csv`;
      const r = await runCli(['score', '--model', 'm-comma', '--data', file, '--out', out, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(out, 'utf8');
    };
    const scored = await score(files.tab);
    expect(scored).toBe(await score(files.comma));
    expect(scored.split('\n')[0]).toBe('row,booking_id,score,decision');
  }, 120_000);

  it('numbers written with thousands commas ("1,889.50", as a spreadsheet formats them) are numbers, in training and in scoring', async () => {
    // Before: such a column read as text with more than 1,000 values, and was left out as an identifier.
    const big = rows.map((r) => r.map((v, k) => (typeof v === 'number' && k > 0 && k < r.length - 1 ? v * 1000 : v)));
    const grouped = big.map((r) => r.map((v, k) => (typeof v === 'number' && k > 0 && k < r.length - 1 ? v.toLocaleString('en-US', { maximumFractionDigits: 20 }) : v)));
    expect(grouped.flat().filter((v) => typeof v === 'string' && /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(v)).length).toBeGreaterThan(1000);
    const [plainFile, groupedFile] = [write('thousands-plain.csv', ',', big), write('thousands-grouped.csv', ',', grouped)];
    const train = async (file: string, model: string) => {
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', model, '--algo', 'logreg', '--exclude', 'booking_id', '--register', '--promote', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return r.json();
    };
    const [plain, withCommas] = [await train(plainFile, 'm-plain-big'), await train(groupedFile, 'm-grouped')];
    expect(withCommas.run.columns.filter((c: { role: string }) => c.role === 'numeric').length).toBe(Object.keys(data.numeric).length);
    expect(withCommas.metrics.roc_auc).toBe(plain.metrics.roc_auc);
    const score = async (file: string) => {
      const out = `${file}.scored.csv`;
      const r = await runCli(['score', '--model', 'm-plain-big', '--data', file, '--out', out, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(out, 'utf8');
    };
    expect(await score(groupedFile)).toBe(await score(plainFile));
  }, 120_000);

  it('a label written 1,0 and 0,0 (pandas writes a label column with a gap as floats, decimal=",") is the same 0/1 target', async () => {
    // Before: "its two values "1,0" and "0,0" are not 0/1, yes/no or true/false".
    const floatLabels = write(
      'float-labels.csv',
      ';',
      decimalCommas.map((r) => [...r.slice(0, -1), `${r[r.length - 1]},0`]),
    );
    expect(readFileSync(floatLabels, 'utf8').split('\n')[1]).toMatch(/;[01],0$/);
    const train = async (file: string, model: string) => {
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', model, '--algo', 'logreg', '--exclude', 'booking_id', '--register', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return r.json();
    };
    const [asFloats, asInts] = [await train(floatLabels, 'm-float-labels'), await train(files.semicolon, 'm-int-labels')];
    expect(asFloats.run.task).toBe('binary');
    expect(asFloats.metrics.roc_auc).toBe(asInts.metrics.roc_auc);
    // evaluate reads the outcome column the same way.
    const evaluate = async (file: string) => (await runCli(['evaluate', '--model', 'm-int-labels', '--version', '1', '--data', file, '--target', 'is_canceled', '--json'], env)).json().candidate;
    const [byFloats, byInts] = [await evaluate(floatLabels), await evaluate(files.semicolon)];
    expect(byFloats.rows).toBe(2000);
    expect(byFloats.roc_auc).toBe(byInts.roc_auc);
  }, 120_000);

  it("Excel's sep=; first line: train reads the header after it, and messages count it as a line", async () => {
    // Before: "line 2 has 14 fields where the header has 2" (the sep line read as the header).
    const withSep = path.join(dir, 'excel-sep.csv');
    writeFileSync(withSep, `\uFEFFsep=;\r\n${readFileSync(files.semicolon, 'utf8')}`);
    const train = async (file: string, model: string) => {
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', model, '--algo', 'logreg', '--exclude', 'booking_id', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return r.json();
    };
    const [sep, plain] = [await train(withSep, 'm-sep'), await train(files.semicolon, 'm-nosep')];
    expect(sep.metrics.roc_auc).toBe(plain.metrics.roc_auc);
    expect(sep.run.columns.map((c: { name: string }) => c.name)).toEqual(plain.run.columns.map((c: { name: string }) => c.name));
    // A ragged row is named by its line in the file: the sep line, the header, row 1, then row 2.
    const ragged = path.join(dir, 'excel-sep-ragged.csv');
    const lines = readFileSync(files.semicolon, 'utf8').split('\n');
    lines[2] += ';extra';
    writeFileSync(ragged, `sep=;\n${lines.join('\n')}`);
    const bad = await runCli(['train', '--data', ragged, '--target', 'is_canceled', '--model', 'm-ragged'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/: line 4 has \d+ fields where the header has/);
    // feedback import too.
    const outcomes = path.join(dir, 'outcomes-sep.csv');
    writeFileSync(outcomes, 'sep=;\r\nevent_id;label\r\nnot-scored;1\r\nx;1;2\r\n');
    const fb = await runCli(['feedback', 'import', '--file', outcomes, '--json'], env);
    expect(fb.json()).toMatchObject({ rows: 2, errors: [{ line: 3 }, { line: 4, message: expect.stringMatching(/more fields than the header's 2/) }] });
  }, 120_000);

  it('feedback import reads a semicolon file', async () => {
    const file = path.join(dir, 'outcomes.csv');
    writeFileSync(file, 'prediction_id;label\nnot-a-prediction;1\n');
    const r = await runCli(['feedback', 'import', '--file', file, '--json'], env);
    // Read as two columns: the row reaches the lookup (with commas it would have no label column).
    expect(r.json()).toMatchObject({ rows: 1, stored: 0, errors: [{ line: 2, message: expect.stringMatching(/no prediction not-a-prediction/) }] });
  });
});
