/**
 * npm run bench (fifth part): `modelgate score` on 1,000,000 distinct rows (BENCH_SCORE_ROWS),
 * streamed from a CSV through the serving code to a CSV, with the defaults: the scikit-learn
 * HistGradientBoostingRegressor export in test/fixtures (telco_charges, 16 columns, 14 of them
 * strings), each row a fixture row with its own tenure. Baseline in the same run: reading and
 * parsing the same file with the same CSV parser and writing one column back — the I/O floor
 * a streamed scorer cannot beat. Reports rows/s for both, their ratio, and peak RSS.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse';
import { deriveContract, defaultPolicy, inspectGraph, Servable, taskOf } from '../src/inference/index.js';
import { scoreFile } from '../src/inference/score-file.js';
import { log, root } from './harness.js';

const rows = Number(process.env.BENCH_SCORE_ROWS ?? 1_000_000);
const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-bench-score-'));
const fixture = JSON.parse(readFileSync(path.join(root, 'test/fixtures/telco_charges.expected.json'), 'utf8')) as { rows: Record<string, string | number>[] };
const onnx = readFileSync(path.join(root, 'test/fixtures/telco_charges.onnx'));

async function writeInput(file: string): Promise<void> {
  const cols = Object.keys(fixture.rows[0]);
  const out = createWriteStream(file);
  out.write(`id,${cols.join(',')}\n`);
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const r = fixture.rows[i % fixture.rows.length];
    buf += `${i},${cols.map((c) => (c === 'tenure' ? (i * 7919) % 73 : r[c])).join(',')}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'close');
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

async function main() {
  const input = path.join(dir, 'rows.csv');
  log(`score: writing ${rows.toLocaleString('en')} rows…`);
  await writeInput(input);

  // Baseline: parse every row and write one column back.
  let t = process.hrtime.bigint();
  const sink = createWriteStream(path.join(dir, 'baseline.csv'));
  let n = 0;
  for await (const rec of createReadStream(input).pipe(parse({ columns: true, bom: true })) as AsyncIterable<Record<string, string>>) {
    n++;
    if (!sink.write(`${rec.id}\n`)) await once(sink, 'drain');
  }
  sink.end();
  await once(sink, 'close');
  const baseSeconds = Number(process.hrtime.bigint() - t) / 1e9;

  const { contract, output } = deriveContract(inspectGraph(onnx));
  const servable = await Servable.load(onnx, { model: 'charges', version: 1, contract, output, policy: defaultPolicy(taskOf(contract)) }, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
  peakRss = 0;
  t = process.hrtime.bigint();
  const out = createWriteStream(path.join(dir, 'scored.csv'));
  const rejects = createWriteStream(path.join(dir, 'rejects.csv'));
  const r = await scoreFile({ servable, input: createReadStream(input), output: out, rejects, source: input, onProgress: (k) => k % 200_000 < 512 && log(`  ${k.toLocaleString('en')} rows`) });
  out.end();
  rejects.end();
  await Promise.all([once(out, 'close'), once(rejects, 'close')]);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  await servable.release();
  clearInterval(sampler);
  const scoreRate = r.scored / seconds;
  const baseRate = n / baseSeconds;
  log(`score (telco_charges HistGradientBoostingRegressor, ${rows.toLocaleString('en')} distinct rows, CSV in and out):`);
  log(`  parse + write one column (baseline): ${Math.round(baseRate).toLocaleString('en')} rows/s`);
  log(`  modelgate score:                     ${Math.round(scoreRate).toLocaleString('en')} rows/s  (${(scoreRate / baseRate).toFixed(2)} of the baseline), ${r.rejected} rejected`);
  log(`  peak RSS while scoring: ${Math.round(peakRss / 1e6)} MB`);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
  log(String(e?.stack ?? e));
  process.exit(1);
});
