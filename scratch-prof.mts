import { readFileSync } from 'node:fs';
import { inspectGraph, deriveContract, exposeZipMapSource } from './src/inference/index.js';
import { createEncoder } from './src/inference/encoder.js';
import { compileGraph } from './src/inference/compiled/index.js';
const name = process.argv[2] ?? 'telco_gbdt';
const bytes = readFileSync(`../shared/fixtures/${name}.onnx`);
const exp = JSON.parse(readFileSync(`../shared/fixtures/${name}.expected.json`, 'utf8'));
const { contract, output } = deriveContract(inspectGraph(bytes), { featureNames: exp.feature_names });
const graph = output.source === 'zipmap' ? exposeZipMapSource(bytes, output.zipmap_output!).bytes : bytes;
const p = compileGraph(graph, output.name);
console.log(p.ops.join(' '), p.bytes);
const enc = createEncoder(contract);
const rows = exp.rows.map((r: any) => enc.encode(r, 'p').row);
const feeds = rows.map((r: any) => enc.feeds([r]));
for (const round of [0, 1, 2]) {
  let t = performance.now(); let n = 0;
  while (n < 50000) { p.run(feeds[n % feeds.length] as any); n++; }
  const run = (performance.now() - t) * 1000 / n;
  t = performance.now(); n = 0;
  while (n < 50000) { enc.feeds([rows[n % rows.length]]); n++; }
  console.log('program.run µs', run.toFixed(2), 'feeds µs', ((performance.now() - t) * 1000 / n).toFixed(2));
}
