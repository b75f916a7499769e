/**
 * npm run bench:memory (part of npm run bench): the memory a loaded version costs. Loads the
 * 150-tree GradientBoosting export (test/fixtures/telco_gbdt.onnx), and the logistic-regression
 * pipeline with one-hot inputs (telco_churn.onnx: a small model, whose cost is mostly the
 * version's own objects rather than its graph), 50 times as 50 versions, in a fresh process per
 * model and engine, and reports the RSS and JavaScript heap growth per version (after a full
 * GC) beside what `models --json` reports, for the compiled engine (the default) and for
 * onnxruntime sessions. Environment: BENCH_VERSIONS (50).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { log, root } from './harness.js';
import { defaultPolicy, deriveContract, inspectGraph, openReferenceOffThread, Servable, type EngineChoice } from '../src/inference/index.js';

const versions = Number(process.env.BENCH_VERSIONS ?? 50);

interface Measured {
  model: string;
  engine: string;
  baseline_mb: number;
  after_mb: number;
  per_version_mb: number;
  heap_per_version_mb: number;
  reported_per_version_mb: number;
}

async function child(model: string, engine: EngineChoice): Promise<Measured> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const bytes = readFileSync(path.join(root, `test/fixtures/${model}.onnx`));
  const { contract, output } = deriveContract(inspectGraph(bytes));
  contract.missing_category = 'missing';
  const rss = () => {
    gc();
    gc();
    return process.memoryUsage.rss() / 1048576;
  };
  const heap = () => process.memoryUsage().heapUsed / 1048576;
  // As the server loads a version: a compiled one is checked against an onnxruntime session opened on the process's check thread.
  const runtime = { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine, openReference: openReferenceOffThread };
  // One version loaded and released first, so code, onnxruntime's runtime, the check thread and JIT are in the baseline.
  const warm = await Servable.load(bytes, { model: 'm', version: 0, contract, output, policy: defaultPolicy('binary') }, runtime);
  await warm.release();
  const baseline = rss();
  const heapBefore = heap();
  const loaded: Servable[] = [];
  for (let v = 1; v <= versions; v++) {
    loaded.push(await Servable.load(bytes, { model: 'm', version: v, contract, output, policy: defaultPolicy('binary') }, runtime));
  }
  const after = rss();
  const heapAfter = heap();
  const reported = loaded.reduce((n, s) => n + s.info.memory_bytes, 0) / versions / 1048576;
  return {
    model,
    engine: loaded[0].engineName,
    baseline_mb: baseline,
    after_mb: after,
    per_version_mb: (after - baseline) / versions,
    heap_per_version_mb: (heapAfter - heapBefore) / versions,
    reported_per_version_mb: reported,
  };
}

async function main() {
  if (process.argv[2] === '--child') {
    process.stdout.write(`${JSON.stringify(await child(process.argv[3], process.argv[4] as EngineChoice))}\n`);
    return;
  }
  const results: Measured[] = [];
  for (const model of ['telco_gbdt', 'telco_churn']) {
    for (const engine of ['auto', 'onnxruntime'] as const) {
      log(`loading ${versions} versions of ${model} with INFERENCE_ENGINE=${engine} in a fresh process…`);
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/memory.ts', '--child', model, engine], { cwd: root, encoding: 'utf8' });
      results.push(JSON.parse(out.trim().split('\n').pop()!) as Measured);
    }
  }
  const ratio = (model: string) => {
    const [compiled, ort] = results.filter((r) => r.model === model);
    return (compiled.per_version_mb / ort.per_version_mb).toFixed(2);
  };
  const lines = [
    `${versions} versions of one graph loaded in one process, after a full GC: telco_gbdt.onnx (150 trees, 19 inputs), telco_churn.onnx (logistic regression, 15 one-hot inputs)`,
    '',
    'model         engine         baseline MB   after MB   RSS per version MB   JS heap per version MB   reported per version MB (models --json)',
    ...results.map(
      (r) =>
        `${r.model.padEnd(13)} ${r.engine.padEnd(14)} ${r.baseline_mb.toFixed(1).padStart(11)}   ${r.after_mb.toFixed(1).padStart(8)}   ${r.per_version_mb.toFixed(2).padStart(18)}   ${r.heap_per_version_mb.toFixed(2).padStart(22)}   ${r.reported_per_version_mb.toFixed(3).padStart(10)}`,
    ),
    '',
    `compiled / onnxruntime memory per version: ${ratio('telco_gbdt')} for the GBDT (target <= 1), ${ratio('telco_churn')} for the logistic regression`,
    "reported: the compiled program's arrays and generated code, or the onnxruntime session's RSS growth at load; the version's own JavaScript objects (its encoder, batcher, closures) come on top",
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
