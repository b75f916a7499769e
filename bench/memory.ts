/**
 * npm run bench:memory (part of npm run bench): the memory a loaded version costs. Loads the
 * 150-tree GradientBoosting export (test/fixtures/telco_gbdt.onnx) 50 times as 50 versions, in
 * a fresh process per engine, and reports the RSS growth per version (after a full GC), for the
 * compiled engine (the default) and for onnxruntime sessions. Environment: BENCH_VERSIONS (50).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { log, root } from './harness.js';
import { defaultPolicy, deriveContract, inspectGraph, Servable, type EngineChoice } from '../src/inference/index.js';

const versions = Number(process.env.BENCH_VERSIONS ?? 50);

interface Measured {
  engine: string;
  baseline_mb: number;
  after_mb: number;
  per_version_mb: number;
  reported_per_version_mb: number;
}

async function child(engine: EngineChoice): Promise<Measured> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const bytes = readFileSync(path.join(root, 'test/fixtures/telco_gbdt.onnx'));
  const { contract, output } = deriveContract(inspectGraph(bytes));
  contract.missing_category = 'missing';
  const rss = () => {
    gc();
    gc();
    return process.memoryUsage.rss() / 1048576;
  };
  // One version loaded and released first, so code, onnxruntime's runtime and JIT are in the baseline.
  const warm = await Servable.load(bytes, { model: 'm', version: 0, contract, output, policy: defaultPolicy('binary') }, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine });
  await warm.release();
  const baseline = rss();
  const loaded: Servable[] = [];
  for (let v = 1; v <= versions; v++) {
    loaded.push(await Servable.load(bytes, { model: 'm', version: v, contract, output, policy: defaultPolicy('binary') }, { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine }));
  }
  const after = rss();
  const reported = loaded.reduce((n, s) => n + s.info.memory_bytes, 0) / versions / 1048576;
  return { engine: loaded[0].engineName, baseline_mb: baseline, after_mb: after, per_version_mb: (after - baseline) / versions, reported_per_version_mb: reported };
}

async function main() {
  if (process.argv[2] === '--child') {
    process.stdout.write(`${JSON.stringify(await child(process.argv[3] as EngineChoice))}\n`);
    return;
  }
  const results: Measured[] = [];
  for (const engine of ['auto', 'onnxruntime'] as const) {
    log(`loading ${versions} versions of telco_gbdt with INFERENCE_ENGINE=${engine} in a fresh process…`);
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/memory.ts', '--child', engine], { cwd: root, encoding: 'utf8' });
    results.push(JSON.parse(out.trim().split('\n').pop()!) as Measured);
  }
  const [compiled, ort] = results;
  const lines = [
    `${versions} versions of telco_gbdt.onnx (150 trees, 19 inputs) loaded in one process, RSS after a full GC`,
    '',
    'engine         baseline MB   after MB   growth per version MB   reported per version MB (models --json)',
    ...results.map(
      (r) =>
        `${r.engine.padEnd(14)} ${r.baseline_mb.toFixed(1).padStart(11)}   ${r.after_mb.toFixed(1).padStart(8)}   ${r.per_version_mb.toFixed(2).padStart(21)}   ${r.reported_per_version_mb.toFixed(2).padStart(10)}`,
    ),
    '',
    `compiled / onnxruntime memory per version: ${(compiled.per_version_mb / ort.per_version_mb).toFixed(2)} (target <= 1)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
