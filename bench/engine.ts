/**
 * npm run bench:engine (part of npm run bench): model time for one row — feeds built, graph
 * run, output read — on the compiled engine and on onnxruntime, one row at a time over 20,000
 * distinct rows (the fixture rows with a random MonthlyCharges each), for the 150-tree
 * GradientBoosting export and the logistic-regression pipeline with one-hot inputs
 * (test/fixtures/telco_gbdt.onnx, telco_churn.onnx). Environment: BENCH_ROWS (20000).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { log, root } from './harness.js';
import { defaultPolicy, deriveContract, inspectGraph, Servable, type EngineChoice } from '../src/inference/index.js';
import type { Row } from '../src/inference/encoder.js';

const n = Number(process.env.BENCH_ROWS ?? 20000);

async function perRow(name: string, engine: EngineChoice): Promise<{ engine: string; us: number }> {
  const bytes = readFileSync(path.join(root, `test/fixtures/${name}.onnx`));
  const fixture = JSON.parse(readFileSync(path.join(root, `test/fixtures/${name}.expected.json`), 'utf8')) as { rows: Record<string, unknown>[] };
  const { contract, output } = deriveContract(inspectGraph(bytes));
  contract.missing_category = 'missing';
  const s = await Servable.load(bytes, { model: name, version: 1, contract, output, policy: defaultPolicy('binary') }, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine });
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const rows: Row[] = Array.from({ length: n }, (_, i) => s.encoder.encode({ ...fixture.rows[i % fixture.rows.length], MonthlyCharges: 18 + random() * 100 }, 'row').row);
  for (let i = 0; i < 5000; i++) await s.run([rows[i % rows.length]]); // JIT warm-up
  const t0 = process.hrtime.bigint();
  for (const row of rows) await s.run([row]);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / rows.length;
  const used = s.engineName;
  await s.release();
  return { engine: used, us };
}

async function main() {
  const lines = [
    `model time for one row (feeds, graph, output), one row at a time over ${n} distinct rows`,
    '',
    'graph                                   compiled µs   onnxruntime µs   compiled / onnxruntime',
  ];
  for (const [name, label] of [
    ['telco_gbdt', 'GradientBoosting, 150 trees, 19 inputs'],
    ['telco_churn', 'logistic regression, one-hot, 19 inputs'],
  ] as const) {
    log(`timing ${name} on both engines…`);
    const c = await perRow(name, 'auto');
    const o = await perRow(name, 'onnxruntime');
    if (c.engine !== 'compiled') throw new Error(`${name} did not compile`);
    lines.push(`${label.padEnd(40)} ${c.us.toFixed(1).padStart(11)}   ${o.us.toFixed(1).padStart(14)}   ${(c.us / o.us).toFixed(3).padStart(10)}`);
  }
  lines.push('', 'target: <= 5 µs per row');
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
