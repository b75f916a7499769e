import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicy, deriveContract, inspectGraph, Servable } from '../src/inference/index.js';
import { s3Sdk } from '../src/lib/s3-sdk.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { kindFixture } from './helpers/fixtures.js';
import { s3PolicyProxy } from './helpers/s3-policy-proxy.js';

/**
 * modelgate score: an unlabelled CSV through the serving code, streamed, for every kind.
 * Expected values are onnxruntime's own (recorded beside the fixtures).
 */
const geo = kindFixture('bank_geography');
const charges = kindFixture('telco_charges');

const cell = (v: unknown) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
function csvOf(rows: Record<string, unknown>[], id: (i: number) => string, dirty: (i: number, row: Record<string, unknown>) => Record<string, unknown> = (_i, r) => r): string {
  const cols = Object.keys(rows[0]);
  return `${[['CustomerId', ...cols].join(','), ...rows.map((r, i) => [id(i), ...cols.map((c) => cell(dirty(i, r)[c]))].join(','))].join('\n')}\n`;
}
const readCsv = (file: string) => parse(readFileSync(file), { columns: true }) as Record<string, string>[];

describe('modelgate score', () => {
  const dir = tempDir();
  const env: Record<string, string> = { MODELGATE_DATA_DIR: dir };
  let s3: InstanceType<typeof S3rver>;
  let s3Env: Record<string, string> = {};
  beforeAll(async () => {
    writeFileSync(path.join(dir, 'geo.onnx'), geo.onnx);
    writeFileSync(path.join(dir, 'charges.onnx'), charges.onnx);
    for (const m of ['geo', 'charges']) {
      expect((await runCli(['register', '--model', m, '--onnx', path.join(dir, `${m}.onnx`), ...(m === 'charges' ? ['--policy', 'bands=low:30,mid:70,high'] : [])], env)).code).toBe(0);
      expect((await runCli(['promote', '--model', m, '--version', '1'], env)).code).toBe(0);
    }
    s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: tempDir('s3rver-'), silent: true, configureBuckets: [{ name: 'lake', configs: [] }] });
    const addr = (await s3.run()) as { address: string; port: number };
    s3Env = { ...env, S3_ENDPOINT: `http://127.0.0.1:${addr.port}`, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  }, 240_000);
  afterAll(async () => {
    await s3?.close();
  });
  /** The telco charges rows as a CSV with a line-N id column, some rows changed by `dirty`. */
  const chargesCsv = (name: string, dirty: (i: number, row: Record<string, unknown>) => Record<string, unknown>) => {
    const data = path.join(dir, name);
    writeFileSync(
      data,
      csvOf(charges.expected.rows, (i) => `line-${i}`, dirty),
    );
    return data;
  };

  it('multiclass: row number, id column, label, one probability column per class, score and decision, as onnxruntime computes', async () => {
    const data = path.join(dir, 'customers.csv');
    writeFileSync(
      data,
      csvOf(geo.expected.rows, (i) => `cust-${i}`),
    );
    const out = path.join(dir, 'out', 'geo-scored.csv');
    const r = await runCli(['score', '--model', 'geo', '--data', data, '--out', out, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      task: 'multiclass',
      rows: 200,
      scored: 200,
      rejected: 0,
      rejects_file: null,
      columns: ['row', 'CustomerId', 'label', 'probability_?', 'probability_France', 'probability_Germany', 'probability_Spain', 'score', 'decision'],
    });
    const rows = readCsv(out);
    expect(rows).toHaveLength(200);
    rows.forEach((row, i) => {
      expect(row.row).toBe(String(i + 1));
      expect(row.CustomerId).toBe(`cust-${i}`);
      geo.expected.classes.forEach((c, j) => expect(Math.abs(Number(row[`probability_${c}`]) - geo.expected.onnxruntime[i][j])).toBeLessThan(1e-6));
      expect(row.decision).toBe(row.label);
    });
    expect(existsSync(path.join(dir, 'out', 'geo-scored.rejects.csv'))).toBe(false);
  }, 240_000);

  it("an imported pipeline's text cells are read as pandas reads them: '?' is a category its encoder learned, a blank, NA or n/a is missing", async () => {
    // scikit-learn fitted this pipeline on a frame pandas read: "?" in Gender was a category, blanks (NaN) were imputed "missing".
    expect((await runCli(['register', '--model', 'geo-imputed', '--onnx', path.join(dir, 'geo.onnx'), '--missing-category', 'missing'], env)).code).toBe(0);
    const genders = ['?', '', 'NA', 'n/a', 'None', 'Male', '?'];
    const rows = genders.map((Gender, i) => ({ ...geo.expected.rows[i], Gender }));
    const data = path.join(dir, 'genders.csv');
    writeFileSync(
      data,
      csvOf(rows, (i) => `g-${i}`),
    );
    const out = path.join(dir, 'genders-scored.csv');
    const r = await runCli(['score', '--model', 'geo-imputed', '--version', '1', '--data', data, '--out', out, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    // What the graph gives each row with Gender as pandas hands it over (NaN imputed as the literal "missing"), on onnxruntime.
    const pandas = genders.map((g) => (['', 'NA', 'n/a', 'None'].includes(g) ? 'missing' : g));
    const { contract, output } = deriveContract(inspectGraph(geo.onnx), {});
    const servable = await Servable.load(
      geo.onnx,
      { model: 'm', version: 1, contract, output, policy: defaultPolicy('multiclass') },
      { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine: 'onnxruntime' },
    );
    const outcomes = await servable.run(rows.map((row, i) => servable.encoder.encode({ ...row, Gender: pandas[i] }, 'row').row));
    await servable.release();
    const probabilities = outcomes.map((o) => o.probabilities!);
    const scored = readCsv(out);
    scored.forEach((row, i) => geo.expected.classes.forEach((c, j) => expect(Math.abs(Number(row[`probability_${c}`]) - probabilities[i][j]), `${genders[i]}: ${c}`).toBeLessThan(1e-6)));
    // "?" and a missing value score differently (so reading one as the other shows).
    expect(Math.abs(Number(scored[0].probability_France) - Number(scored[1].probability_France))).toBeGreaterThan(1e-3);
  }, 240_000);

  it('rows that cannot be scored go to the rejects file with the reason and fail the command; nothing is published unless --allow-rejects', async () => {
    const data = chargesCsv('lines.csv', (i, r) => (i === 3 ? { ...r, tenure: 'forty' } : i === 9 ? { ...r, Contract: null } : r));
    const out = path.join(dir, 'charges-scored.csv');
    const refused = await runCli(['score', '--model', 'charges', '--data', data, '--out', out], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/2 of 200 rows cannot be scored \(reasons in .*charges-scored\.rejects\.csv\); nothing was written/);
    expect(existsSync(out)).toBe(false);
    const rejects = readCsv(path.join(dir, 'charges-scored.rejects.csv'));
    expect(rejects).toEqual([
      { row: '4', CustomerId: 'line-3', reason: 'row.tenure: expected a number or null, got string: the string "forty"' },
      { row: '10', CustomerId: 'line-9', reason: expect.stringMatching(/^row\.Contract: null, and this model version does not say what a missing category becomes/) },
    ]);
    const allowed = await runCli(['score', '--model', 'charges', '--data', data, '--out', out, '--id', 'CustomerId', '--allow-rejects', '--json'], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json()).toMatchObject({ rows: 200, scored: 198, rejected: 2, columns: ['row', 'CustomerId', 'value', 'decision'] });
    const rows = readCsv(out);
    expect(rows.map((r) => r.row)).not.toContain('4');
    for (const row of rows) {
      const i = Number(row.row) - 1;
      expect(Math.abs(Number(row.value) - charges.expected.onnxruntime[i])).toBeLessThan(1e-5);
      const v = charges.expected.onnxruntime[i];
      expect(row.decision).toBe(v < 30 ? 'low' : v < 70 ? 'mid' : 'high');
    }
    const noFeature = path.join(dir, 'partial.csv');
    writeFileSync(noFeature, 'CustomerId,tenure\nx,3\n');
    const missing = await runCli(['score', '--model', 'charges', '--data', noFeature, '--out', out], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no column for features SeniorCitizen, Partner/);
  }, 240_000);

  it('categories the version does not know are scored as unseen ones and counted, with the category likely meant', async () => {
    const data = chargesCsv('typos.csv', (i, r) => (i < 5 ? { ...r, Contract: 'Two-year' } : i === 5 ? { ...r, Contract: 'one year' } : r));
    const out = path.join(dir, 'typos-scored.csv');
    const json = await runCli(['score', '--model', 'charges', '--data', data, '--out', out, '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect(json.json()).toMatchObject({ scored: 200, unseen_categories: { Contract: { rows: 6, values: { 'Two-year': 5, 'one year': 1 } } } });
    const text = await runCli(['score', '--model', 'charges', '--data', data, '--out', out], env);
    expect(text.stdout).toMatch(
      /^warning: categories this version does not know, scored as unseen ones: Contract in 6 rows \("Two-year" 5, did you mean "Two year"\?; "one year" 1, did you mean "One year"\?\)$/m,
    );
    const clean = await runCli(['score', '--model', 'charges', '--data', path.join(dir, 'lines.csv'), '--out', out, '--allow-rejects', '--json'], env);
    expect(clean.json().unseen_categories).toEqual({});
  }, 240_000);

  it('a row whose fields do not line up with the header is rejected, not scored on the next columns; a feature named twice in the header is refused', async () => {
    const lines = csvOf(charges.expected.rows, (i) => `line-${i}`)
      .trimEnd()
      .split('\n');
    // Row 5: tenure written with a thousands comma, unquoted (every later cell would shift one
    // column right); row 8: cut short by its last field.
    lines[5] = lines[5].replace(/^(line-4,\d+,)(\d+),/, '$1$2,000,');
    lines[8] = lines[8].slice(0, lines[8].lastIndexOf(','));
    const data = path.join(dir, 'misaligned.csv');
    writeFileSync(data, `${lines.join('\n')}\n`);
    const out = path.join(dir, 'misaligned-scored.csv');
    const r = await runCli(['score', '--model', 'charges', '--data', data, '--out', out, '--allow-rejects', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      rows: 200,
      scored: 198,
      rejected: 2,
      reasons: {
        "more fields than the header's 17: a comma in a field that is not quoted, such as a number written 1,234": 1,
        "fewer fields than the header's 17: the row is cut short": 1,
      },
    });
    expect(readCsv(path.join(dir, 'misaligned-scored.rejects.csv')).map((x) => x.row)).toEqual(['5', '8']);
    const rows = readCsv(out);
    expect(rows.map((x) => x.row)).not.toContain('5');
    for (const row of rows) expect(Math.abs(Number(row.value) - charges.expected.onnxruntime[Number(row.row) - 1])).toBeLessThan(1e-5);

    // A column the model reads, named twice: which one is the feature? A column it does not read may be.
    const header = lines[0].split(',');
    const twice = path.join(dir, 'twice.csv');
    writeFileSync(twice, [[...header, 'tenure'].join(','), ...lines.slice(1, 4).map((l) => `${l},1`)].join('\n'));
    const refused = await runCli(['score', '--model', 'charges', '--data', twice, '--out', out], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/twice\.csv: the header names column "tenure" twice; remove or rename one of them/);
    writeFileSync(twice, [[...header, 'note', 'note'].join(','), ...lines.slice(1, 4).map((l) => `${l},a,b`)].join('\n'));
    expect((await runCli(['score', '--model', 'charges', '--data', twice, '--out', out, '--json'], env)).json()).toMatchObject({ rows: 3, scored: 3 });
  }, 240_000);

  it('reads from and writes to S3 (an s3rver on loopback)', async () => {
    // Through modelgate's loader, which turns off the SDK's notice about Node versions (it would print in this test process).
    const { GetObjectCommand, PutObjectCommand, S3Client } = s3Sdk();
    const client = new S3Client({ region: 'us-east-1', endpoint: s3Env.S3_ENDPOINT, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'lake', Key: 'in/lines.csv', Body: csvOf(charges.expected.rows, (i) => `s3-${i}`) }));
      const r = await runCli(['score', '--model', 'charges', '--data', 's3://lake/in/lines.csv', '--out', 's3://lake/out/scored.csv', '--json'], s3Env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ rows: 200, scored: 200, out: 's3://lake/out/scored.csv' });
      const body = await (await client.send(new GetObjectCommand({ Bucket: 'lake', Key: 'out/scored.csv' }))).Body!.transformToString();
      const rows = parse(body, { columns: true }) as Record<string, string>[];
      expect(rows).toHaveLength(200);
      expect(Math.abs(Number(rows[5].value) - charges.expected.onnxruntime[5])).toBeLessThan(1e-5);
      const missing = await runCli(['score', '--model', 'charges', '--data', 's3://lake/in/none.csv', '--out', path.join(dir, 'x.csv')], s3Env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read s3:\/\/lake\/in\/none\.csv/);
    } finally {
      client.destroy();
    }
  }, 240_000);

  it("S3's refusals name the permission to grant: a missing input without s3:ListBucket, an output without s3:PutObject", async () => {
    const noList = await s3PolicyProxy(s3Env.S3_ENDPOINT!, { noList: true });
    const noPut = await s3PolicyProxy(s3Env.S3_ENDPOINT!, { noPut: true });
    try {
      const missing = await runCli(['score', '--model', 'charges', '--data', 's3://lake/in/none.csv', '--out', path.join(dir, 'y.csv')], { ...s3Env, S3_ENDPOINT: noList.endpoint });
      expect([missing.code, missing.stderr.trim()]).toEqual([
        2,
        'error: cannot read s3://lake/in/none.csv: S3 refused to let this identity read (Access Denied): grant it s3:GetObject on arn:aws:s3:::lake/in/none.csv; without s3:ListBucket on arn:aws:s3:::lake, S3 also answers Access Denied for an object that does not exist',
      ]);
      const data = chargesCsv('to-s3.csv', (_i, row) => row);
      const unwritten = await runCli(['score', '--model', 'charges', '--data', data, '--out', 's3://lake/out/denied.csv'], { ...s3Env, S3_ENDPOINT: noPut.endpoint });
      expect([unwritten.code, unwritten.stderr.trim().split('\n').at(-1)]).toEqual([
        1,
        'error: cannot write s3://lake/out/denied.csv: S3 refused to let this identity write (Access Denied): grant it s3:PutObject on arn:aws:s3:::lake/out/denied.csv',
      ]);
    } finally {
      await Promise.all([noList.close(), noPut.close()]);
    }
  }, 240_000);
});
