import type { Command } from 'commander';
import { AppError } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/files.js';
import { Servable } from '../inference/index.js';
import { checkSkipped, costMatrixOf, scoreCsv } from '../monitoring/index.js';
import type { Context } from '../server/context.js';
import { evaluateScores, type Evaluation } from '../training/evaluation.js';
import { parseNumberFlag, parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

interface EvaluateFlags extends OutputOptions {
  model: string;
  version?: string;
  alias?: string;
  data: string;
  target: string;
  baseline?: string;
  minAuc?: string;
  minF1?: string;
  maxAucDrop?: string;
  out?: string;
  allowSkipped?: boolean;
}

/** A version number, or the version an alias points at. */
async function resolve(ctx: Context, model: string, ref: string): Promise<number> {
  if (/^[0-9]+$/.test(ref)) return parseVersion(ref)!;
  const m = await ctx.registry.getModel(model);
  const v = m.aliases[ref];
  if (v === undefined) throw new AppError('NOT_FOUND', `model ${model} has no alias ${ref}; it has ${Object.keys(m.aliases).join(', ') || 'none'}`);
  return v;
}

/** Score the CSV with a registered version through the serving code (Servable, encoder, policy). */
async function evaluateVersion(ctx: Context, model: string, version: number, file: string, target: string, allowSkipped: boolean): Promise<{ version: number; evaluation: Evaluation; skipped: number; skippedReasons: Record<string, number> }> {
  const found = await ctx.registry.source.fetch(model, version);
  if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${model} has no version ${version}`);
  const manifest = (await ctx.registry.getVersion(model, version)).manifest;
  const s = await Servable.load(found.bytes, found.spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
  try {
    progress(`scoring ${file} with ${model} version ${version}…`);
    const r = await scoreCsv(file, s, { target, onProgress: (n) => n % 10240 === 0 && progress(`  ${n} rows scored`) });
    const note = checkSkipped({ ...r, scored: r.scores.length }, { subject: `${file} with ${model} version ${version}`, allowSkipped, allowWhat: 'evaluate the other rows' });
    if (note) progress(`  ${note}`);
    if (new Set(r.labels).size < 2) throw new AppError('BAD_REQUEST', `--target ${target}: the scored rows have a single class; evaluation needs both`);
    return { version, evaluation: evaluateScores(r.scores, r.labels, found.spec.policy, costMatrixOf(manifest.training)), skipped: r.skipped, skippedReasons: r.skippedReasons };
  } finally {
    await s.release();
  }
}

const f = (v: number | null, d = 4) => (v === null ? '—' : v.toFixed(d));

function table(rows: { label: string; e: Evaluation }[]): string {
  const metrics: [string, (e: Evaluation) => string][] = [
    ['rows', (e) => String(e.rows)],
    ['ROC AUC', (e) => f(e.roc_auc)],
    ['PR AUC', (e) => f(e.pr_auc)],
    ['F1', (e) => f(e.f1)],
    ['precision', (e) => f(e.precision)],
    ['recall', (e) => f(e.recall)],
    ['accuracy', (e) => f(e.accuracy)],
    ['Brier', (e) => f(e.brier)],
    ['log loss', (e) => f(e.log_loss)],
    ['action rate', (e) => f(e.action_rate)],
    ['tp / fp / fn / tn', (e) => `${e.confusion.tp} / ${e.confusion.fp} / ${e.confusion.fn} / ${e.confusion.tn}`],
    ['expected profit', (e) => f(e.expected_profit, 2)],
  ];
  const lines = [['', ...rows.map((r) => r.label)], ...metrics.map(([name, fn]) => [name, ...rows.map((r) => fn(r.e))])];
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const out = lines.map((l) => l.map((c, i) => c.padEnd(w[i])).join('  '));
  out.push('', 'calibration (score bin: mean score → positive rate, rows)');
  for (const r of rows) out.push(`  ${r.label}: ${r.e.calibration.filter((b) => b.count).map((b) => `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}: ${f(b.mean_score, 2)}→${f(b.positive_rate, 2)} (${b.count})`).join(', ')}`);
  return out.join('\n');
}

export function registerEvaluateCommands(program: Command): void {
  program
    .command('evaluate')
    .description('Score a labelled CSV with a registered version through the serving code and report ROC AUC, PR AUC, F1, precision, recall, accuracy, Brier, log loss, calibration, the confusion matrix at its policy and expected profit; with --baseline, side by side, and gates')
    .requiredOption('--model <name>', 'model')
    .option('--version <n>', 'version to evaluate')
    .option('--alias <name>', 'alias to evaluate (default production)')
    .requiredOption('--data <csv>', 'labelled rows with a column per model feature')
    .requiredOption('--target <column>', 'label column: 0/1, yes/no or true/false')
    .option('--baseline <alias|version>', 'compare with this version, e.g. production')
    .option('--min-auc <x>', 'gate: candidate ROC AUC at least this')
    .option('--min-f1 <x>', 'gate: candidate F1 at least this')
    .option('--max-auc-drop <x>', 'gate (with --baseline): candidate AUC at most this far below the baseline')
    .option('--out <file>', 'also write the report JSON here (atomically)')
    .option('--allow-skipped', 'evaluate the rows that can be scored even when some cannot (they are counted by reason); without it such a file is refused')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate evaluate --model churn --version 3 --data holdout.csv --target Churn\n  modelgate evaluate --model churn --version 4 --data holdout.csv --target Churn --baseline production --max-auc-drop 0.01 --out reports/metrics/latest_metrics.json --json',
    )
    .action(async (o: EvaluateFlags) =>
      withContext(o, async (ctx) => {
        if (o.version && o.alias) throw new AppError('BAD_REQUEST', 'give --version or --alias, not both');
        const minAuc = parseNumberFlag(o.minAuc, '--min-auc', 0, 1);
        const minF1 = parseNumberFlag(o.minF1, '--min-f1', 0, 1);
        const maxDrop = parseNumberFlag(o.maxAucDrop, '--max-auc-drop', 0, 1);
        if (maxDrop !== undefined && !o.baseline) throw new AppError('BAD_REQUEST', '--max-auc-drop compares with a baseline; give --baseline too');
        const version = o.version ? parseVersion(o.version)! : await resolve(ctx, o.model, o.alias ?? 'production');
        const allow = o.allowSkipped ?? false;
        const candidate = await evaluateVersion(ctx, o.model, version, o.data, o.target, allow);
        const baseline = o.baseline ? await evaluateVersion(ctx, o.model, await resolve(ctx, o.model, o.baseline), o.data, o.target, allow) : undefined;
        const c = candidate.evaluation;
        const gates = [
          ...(minAuc !== undefined ? [{ gate: 'min_auc', threshold: minAuc, value: c.roc_auc, passed: c.roc_auc !== null && c.roc_auc >= minAuc }] : []),
          ...(minF1 !== undefined ? [{ gate: 'min_f1', threshold: minF1, value: c.f1, passed: c.f1 !== null && c.f1 >= minF1 }] : []),
          ...(maxDrop !== undefined && baseline
            ? [{ gate: 'max_auc_drop', threshold: maxDrop, value: baseline.evaluation.roc_auc !== null && c.roc_auc !== null ? baseline.evaluation.roc_auc - c.roc_auc : null, passed: baseline.evaluation.roc_auc !== null && c.roc_auc !== null && baseline.evaluation.roc_auc - c.roc_auc <= maxDrop }]
            : []),
        ];
        const report = {
          model: o.model,
          data: { file: o.data, target: o.target, skipped: candidate.skipped, skipped_reasons: candidate.skippedReasons },
          candidate: { version: candidate.version, ...candidate.evaluation },
          ...(baseline ? { baseline: { version: baseline.version, ...baseline.evaluation } } : {}),
          gates,
          generated_at: ctx.clock.now().toISOString(),
        };
        if (o.out) await writeFileAtomic(o.out, `${JSON.stringify(report, null, 2)}\n`);
        emit(o, report, () =>
          [
            table([{ label: `v${candidate.version}`, e: c }, ...(baseline ? [{ label: `v${baseline.version} (baseline)`, e: baseline.evaluation }] : [])]),
            ...gates.map((g) => `gate ${g.gate}: ${g.passed ? 'passed' : 'FAILED'} (${f(g.value)} vs ${g.threshold})`),
            ...(o.out ? [`report written to ${o.out}`] : []),
          ].join('\n'),
        );
        const failed = gates.filter((g) => !g.passed);
        if (failed.length) {
          progress(`error: ${failed.map((g) => `gate ${g.gate} ${g.threshold} failed (${f(g.value)})`).join('; ')}`);
          process.exitCode = 1;
        }
      }),
    );
}
