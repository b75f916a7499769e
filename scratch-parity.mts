import { readFileSync } from 'node:fs';
import { inspectGraph, deriveContract, Servable, defaultPolicy } from './src/inference/index.js';
const dir = process.argv[2] ?? '../shared/fixtures';
for (const name of ['telco_churn','telco_numeric','telco_gbdt','telco_forest','telco_xgb','bank_geography','telco_charges']) {
  const bytes = readFileSync(`${dir}/${name}.onnx`);
  const exp = JSON.parse(readFileSync(`${dir}/${name}.expected.json`, 'utf8'));
  const info = inspectGraph(bytes);
  const { contract, output } = deriveContract(info, { featureNames: exp.feature_names });
  if (!contract.missing_category && contract.features.some(f=>f.type==='string')) contract.missing_category = 'missing';
  const spec = { model: name, version: 1, contract, output, policy: defaultPolicy(contract) } as any;
  let reason = '';
  const t0 = performance.now();
  const s = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, onEngineFallback: (_, r) => { reason = r; } });
  const loadMs = performance.now() - t0;
  const rows = exp.rows.map((r: any) => s.encoder.encode(r, 'p').row);
  const out = await s.run(rows);
  const ort = exp.onnxruntime ?? exp.proba;
  let worst = 0;
  out.forEach((o, i) => { const e = ort[i]; const v = Array.isArray(e) ? o.probabilities! : [o.score]; (Array.isArray(e)?e:[e]).forEach((x: number, j: number) => worst = Math.max(worst, Math.abs(x - v[j]))); });
  for (let w = 0; w < 20000; w++) await s.run([rows[w % rows.length]]);
  const t1 = performance.now(); let n = 0;
  while (n < 50000) { await s.run([rows[n % rows.length]]); n++; }
  const el = performance.now() - t1;
  console.log(name, s.engineName, reason.slice(0, 200), 'worst', worst.toExponential(2), 'load ms', loadMs.toFixed(0), 'µs/row single', (el * 1000 / n).toFixed(1));
  await s.release();
}
