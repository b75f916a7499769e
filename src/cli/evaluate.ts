import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { notNumbersNote } from '../lib/csv-cell.js';
import { AppError } from '../lib/errors.js';
import { MAIN_METRIC } from '../lib/main-metric.js';
import { sha256File, writeFileAtomic } from '../lib/files.js';
import { assertOutputFile } from '../lib/user-paths.js';
import { Servable } from '../inference/index.js';
import { checkSkipped, costMatrixOf, scoreCsv } from '../monitoring/index.js';
import type { Context } from '../server/context.js';
import { evaluateMulticlass, evaluateRegression, evaluateScores, type Evaluation, type MulticlassEvaluation, type RegressionEvaluation, type TaskEvaluation } from '../training/evaluation.js';
import type { Task, UnseenSummary } from '../inference/index.js';
import { parseNumberFlag, parseVersion, withContext } from './context.js';
import { outcomeColumn, trainedOnFile, trainedRowsIn } from './training-file.js';
import { emit, progress, type OutputOptions } from './output.js';

interface EvaluateFlags extends OutputOptions {
  model: string;
  version?: string;
  alias?: string;
  data: string;
  target?: string;
  baseline?: string;
  minAuc?: string;
  minF1?: string;
  maxAucDrop?: string;
  minR2?: string;
  maxMae?: string;
  minAccuracy?: string;
  maxMetricDrop?: string;
  out?: string;
  allowSkipped?: boolean;
}

/** A version number, or the version an alias points at. */
async function resolve(ctx: Context, model: string, ref: string): Promise<number> {
  if (/^[0-9]+$/.test(ref)) return parseVersion(ref)!;
  return ctx.registry.versionOfAlias(model, ref);
}

const METRIC_NAME: Record<string, string> = { roc_auc: 'ROC AUC', accuracy: 'accuracy', r2: 'R²', f1: 'F1', mae: 'MAE' };

/**
 * The evaluation on a version's own training file flatters it, and so does one on a file that
 * holds its training rows among others (a longer export of the same table); trees memorise more
 * than a linear model, so a comparison there favours them.
 */
async function trainingFileWarning(file: string, fileSha256: string | undefined, e: Evaluated, task: Task, manifest: { metrics?: Record<string, number>; training?: Record<string, unknown> }) {
  const what = (fileSha256 ? await trainedOnFile(file, e.version, manifest, fileSha256) : undefined) ?? e.trainedRows;
  if (!what) return undefined;
  const key = MAIN_METRIC[task];
  const heldOut = manifest.metrics?.[key];
  return `${what}, so its metrics here flatter it${heldOut !== undefined ? ` (held out in training, its ${METRIC_NAME[key]} was ${heldOut.toFixed(4)})` : ''}; evaluate on rows it never saw, such as newer labelled data`;
}

interface Evaluated {
  version: number;
  evaluation: TaskEvaluation;
  skipped: number;
  skippedReasons: Record<string, number>;
  notNumbers: Record<string, number>;
  unseen: UnseenSummary;
  /** How many of the scored rows are the version's training rows, when enough are to say (training-file.ts). */
  trainedRows?: string;
}

/** Score the CSV with a registered version through the serving code (Servable, encoder, policy). */
async function evaluateVersion(ctx: Context, model: string, version: number, file: string, target: { column: string; from?: string }, allowSkipped: boolean): Promise<Evaluated> {
  const found = await ctx.registry.source.fetch(model, version);
  if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${model} has no version ${version}`);
  const manifest = (await ctx.registry.getVersion(model, version)).manifest;
  const s = await Servable.load(found.bytes, found.spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
  try {
    progress(`scoring ${file} with ${model} version ${version} (${s.task})…`);
    const r = await scoreCsv(file, s, { target: target.column, targetFrom: target.from, onProgress: (n) => n % 10240 === 0 && progress(`  ${n.toLocaleString('en')} rows scored…`) });
    progress(`  ${r.scores.length.toLocaleString('en')} rows scored`);
    const note = checkSkipped({ ...r, scored: r.scores.length }, { subject: `${file} with ${model} version ${version}`, allowSkipped, allowWhat: 'evaluate the other rows' });
    if (note) progress(`  ${note}`);
    const read = notNumbersNote(r.notNumbers, r.notNumberExamples, r.scores.length);
    if (read) progress(`  ${read}`);
    if (r.unseenNote) progress(`  warning: ${r.unseenNote}`);
    let evaluation: TaskEvaluation;
    if (s.task === 'regression') evaluation = evaluateRegression(r.outcomes, r.actualValues, found.spec.policy);
    else if (s.task === 'multiclass') evaluation = evaluateMulticlass(r.outcomes, r.actualClasses, found.spec.output.class_labels ?? [], found.spec.policy);
    else {
      if (new Set(r.labels).size < 2) throw new AppError('BAD_REQUEST', `--target ${target.column}: the scored rows have a single class; evaluation needs both`);
      evaluation = { task: 'binary', ...evaluateScores(r.scores, r.labels, found.spec.policy, costMatrixOf(manifest.training)) };
    }
    const trainedRows = trainedRowsIn(
      version,
      manifest,
      found.spec.contract.features.map((f) => f.name),
      r.columns,
      r.scores.length,
    );
    return { version, evaluation, skipped: r.skipped, skippedReasons: r.skippedReasons, notNumbers: r.notNumbers, unseen: r.unseen, ...(trainedRows ? { trainedRows } : {}) };
  } finally {
    await s.release();
  }
}

const f = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? '—' : v.toFixed(d));

function aligned(lines: string[][]): string[] {
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => c.padEnd(w[i])).join('  '));
}

function binaryTable(rows: { label: string; e: Evaluation }[]): string {
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
  const out = aligned([['', ...rows.map((r) => r.label)], ...metrics.map(([name, fn]) => [name, ...rows.map((r) => fn(r.e))])]);
  out.push('', 'calibration (score bin: mean score → positive rate, rows)');
  for (const r of rows)
    out.push(
      `  ${r.label}: ${r.e.calibration
        .filter((b) => b.count)
        .map((b) => `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}: ${f(b.mean_score, 2)}→${f(b.positive_rate, 2)} (${b.count})`)
        .join(', ')}`,
    );
  return out.join('\n');
}

function regressionTable(rows: { label: string; e: RegressionEvaluation }[]): string {
  const q = (e: RegressionEvaluation) => e.residual_quantiles;
  const metrics: [string, (e: RegressionEvaluation) => string][] = [
    ['rows', (e) => String(e.rows)],
    ['MAE', (e) => f(e.mae)],
    ['RMSE', (e) => f(e.rmse)],
    ['R²', (e) => f(e.r2)],
    ['MAPE', (e) => `${f(e.mape === null ? null : e.mape * 100, 2)} %${e.mape_zero_targets ? ` (${e.mape_zero_targets} zero targets left out)` : ''}`],
    ['residual p05 / p50 / p95', (e) => `${f(q(e).p05, 2)} / ${f(q(e).p50, 2)} / ${f(q(e).p95, 2)}`],
  ];
  const out = aligned([['', ...rows.map((r) => r.label)], ...metrics.map(([name, fn]) => [name, ...rows.map((r) => fn(r.e))])]);
  for (const r of rows) {
    out.push('', `${r.label}: predicted vs actual by decile of the prediction`);
    out.push(
      ...aligned([['decile', 'rows', 'mean predicted', 'mean actual'], ...r.e.deciles.map((d) => [String(d.decile), String(d.rows), f(d.mean_predicted, 2), f(d.mean_actual, 2)])]).map(
        (l) => `  ${l}`,
      ),
    );
  }
  return out.join('\n');
}

function multiclassTable(rows: { label: string; e: MulticlassEvaluation }[]): string {
  const metrics: [string, (e: MulticlassEvaluation) => string][] = [
    ['rows', (e) => String(e.rows)],
    ['accuracy', (e) => f(e.accuracy)],
    ['macro F1', (e) => f(e.macro_f1)],
    ['weighted F1', (e) => f(e.weighted_f1)],
    ['log loss', (e) => f(e.log_loss)],
    ...(rows[0]?.e.per_class ?? []).map((c, i): [string, (e: MulticlassEvaluation) => string] => [
      `${c.class}: precision / recall (n)`,
      (e) => `${f(e.per_class[i]?.precision)} / ${f(e.per_class[i]?.recall)} (${e.per_class[i]?.support ?? 0})`,
    ]),
  ];
  const out = aligned([['', ...rows.map((r) => r.label)], ...metrics.map(([name, fn]) => [name, ...rows.map((r) => fn(r.e))])]);
  for (const r of rows) {
    const { classes, matrix } = r.e.confusion;
    out.push('', `${r.label}: confusion matrix (rows: real class, columns: predicted)${r.e.unknown_class_rows ? `; ${r.e.unknown_class_rows} rows of classes the model lacks` : ''}`);
    out.push(...aligned([['', ...classes], ...matrix.map((row, i) => [classes[i], ...row.map(String)])]).map((l) => `  ${l}`));
  }
  return out.join('\n');
}

function table(rows: { label: string; e: TaskEvaluation }[]): string {
  const task = rows[0].e.task;
  if (task === 'regression') return regressionTable(rows as { label: string; e: RegressionEvaluation }[]);
  if (task === 'multiclass') return multiclassTable(rows as { label: string; e: MulticlassEvaluation }[]);
  return binaryTable(rows as { label: string; e: Evaluation }[]);
}

/** The metric --max-metric-drop compares: ROC AUC for binary, accuracy for multiclass, R² for regression. */

interface Gate {
  gate: string;
  metric: string;
  threshold: number;
  value: number | null;
  passed: boolean;
}

/** "ROC AUC 0.0429 above the baseline's (at most 0.01 below allowed)": what a gate measured, in words. */
function describeGate(g: Gate): string {
  const name = METRIC_NAME[g.metric] ?? g.metric;
  if (g.value === null) return `${name} could not be computed`;
  if (g.gate.endsWith('_drop')) {
    const where = g.value > 0 ? `${f(g.value)} below` : g.value < 0 ? `${f(-g.value)} above` : 'equal to';
    return `${name} ${where} the baseline's; at most ${g.threshold} below allowed`;
  }
  return g.gate.startsWith('min_') ? `${name} ${f(g.value)}; at least ${g.threshold} needed` : `${name} ${f(g.value)}; at most ${g.threshold} allowed`;
}

/** The gates the flags ask for, each checked on the candidate (and the baseline for a drop); a gate of another task is refused. */
function gatesFor(o: EvaluateFlags, task: Task, c: TaskEvaluation, b: TaskEvaluation | undefined): Gate[] {
  const asked: { flag: string; gate: string; metric: string; tasks: Task[]; max: number; direction: 'min' | 'max' | 'drop'; raw?: string }[] = [
    { flag: '--min-auc', gate: 'min_auc', metric: 'roc_auc', tasks: ['binary'], max: 1, direction: 'min', raw: o.minAuc },
    { flag: '--min-f1', gate: 'min_f1', metric: 'f1', tasks: ['binary'], max: 1, direction: 'min', raw: o.minF1 },
    { flag: '--max-auc-drop', gate: 'max_auc_drop', metric: 'roc_auc', tasks: ['binary'], max: 1, direction: 'drop', raw: o.maxAucDrop },
    { flag: '--min-r2', gate: 'min_r2', metric: 'r2', tasks: ['regression'], max: 1, direction: 'min', raw: o.minR2 },
    { flag: '--max-mae', gate: 'max_mae', metric: 'mae', tasks: ['regression'], max: Number.MAX_VALUE, direction: 'max', raw: o.maxMae },
    { flag: '--min-accuracy', gate: 'min_accuracy', metric: 'accuracy', tasks: ['binary', 'multiclass'], max: 1, direction: 'min', raw: o.minAccuracy },
    { flag: '--max-metric-drop', gate: 'max_metric_drop', metric: MAIN_METRIC[task], tasks: ['binary', 'multiclass', 'regression'], max: Number.MAX_VALUE, direction: 'drop', raw: o.maxMetricDrop },
  ];
  const metric = (e: TaskEvaluation | undefined, name: string): number | null => (e as unknown as Record<string, number | null> | undefined)?.[name] ?? null;
  const gates: Gate[] = [];
  for (const a of asked) {
    if (a.raw === undefined) continue;
    if (!a.tasks.includes(task))
      throw new AppError(
        'BAD_REQUEST',
        `${a.flag} is a gate for ${a.tasks.join(' and ')} models; ${o.model} is ${task} (its gates: ${asked
          .filter((x) => x.tasks.includes(task))
          .map((x) => x.flag)
          .join(', ')})`,
      );
    const threshold = parseNumberFlag(a.raw, a.flag, 0, a.max)!;
    if (a.direction === 'drop' && !b) throw new AppError('BAD_REQUEST', `${a.flag} compares with a baseline; give --baseline too`);
    const cv = metric(c, a.metric);
    const bv = metric(b, a.metric);
    const value = a.direction === 'drop' ? (cv !== null && bv !== null ? bv - cv : null) : cv;
    const passed = value !== null && (a.direction === 'min' ? value >= threshold : value <= threshold);
    gates.push({ gate: a.gate, metric: a.metric, threshold, value, passed });
  }
  return gates;
}

export function registerEvaluateCommands(program: Command): void {
  program
    .command('evaluate')
    .description(
      'Score a labelled CSV with a registered version through the serving code and report, per task: binary — ROC AUC, PR AUC, F1, precision, recall, accuracy, Brier, log loss, calibration, the confusion matrix at its policy and expected profit; regression — MAE, RMSE, R², MAPE, residual quantiles and a predicted-vs-actual decile table; multiclass — accuracy, macro and weighted F1, log loss, per-class precision and recall, the confusion matrix. With --baseline, side by side, and gates',
    )
    .requiredOption('--model <name>', 'model')
    .option('--version <n>', 'version to evaluate')
    .option('--alias <name>', 'alias to evaluate (default production)')
    .requiredOption('--data <csv>', 'labelled rows with a column per model feature')
    .option(
      '--target <column>',
      "the real outcome: binary 0/1, yes/no, true/false or the model's own class labels; multiclass the class; regression the value (default: the column the version was trained to predict)",
    )
    .option('--baseline <alias|version>', 'compare with this version, e.g. production')
    .option('--min-auc <x>', 'gate (binary): candidate ROC AUC at least this')
    .option('--min-f1 <x>', 'gate (binary): candidate F1 at least this')
    .option('--max-auc-drop <x>', 'gate (binary, with --baseline): candidate AUC at most this far below the baseline')
    .option('--min-r2 <x>', 'gate (regression): candidate R² at least this')
    .option('--max-mae <x>', 'gate (regression): candidate MAE at most this')
    .option('--min-accuracy <x>', 'gate (binary, multiclass): candidate accuracy at least this')
    .option('--max-metric-drop <x>', 'gate (with --baseline): the main metric (binary ROC AUC, multiclass accuracy, regression R²) at most this far below the baseline')
    .option('--out <file>', 'also write the report JSON here (atomically)')
    .option('--allow-skipped', 'evaluate the rows that can be scored even when some cannot (they are counted by reason); without it such a file is refused')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate evaluate --model churn --version 3 --data holdout.csv\n  modelgate evaluate --model churn --version 4 --data holdout.csv --target Churn --baseline production --max-auc-drop 0.01 --out reports/metrics/latest_metrics.json --json\n  modelgate evaluate --model car-price --version 2 --data cars.csv --target price --baseline production --min-r2 0.8 --max-metric-drop 0.01\n  modelgate evaluate --model geography --data customers.csv --target Geography --min-accuracy 0.6',
    )
    .action(async (o: EvaluateFlags) =>
      withContext(o, async (ctx) => {
        if (o.version && o.alias) throw new AppError('BAD_REQUEST', 'give --version or --alias, not both');
        const version = o.version ? parseVersion(o.version)! : await resolve(ctx, o.model, o.alias ?? 'production');
        const evaluated = await ctx.registry.getVersion(o.model, version);
        const task = evaluated.task;
        const { column: target, from: targetFrom } = outcomeColumn(o.target, evaluated.manifest, o.model, version, 'evaluate compares scores with real outcomes');
        // Flags are checked before any scoring, so a wrong gate costs nothing.
        gatesFor(o, task, { task } as TaskEvaluation, o.baseline ? ({ task } as TaskEvaluation) : undefined);
        if (o.out) assertOutputFile(o.out, '--out', 'evaluation.json');
        const allow = o.allowSkipped ?? false;
        if (targetFrom) progress(`target: ${target} (${targetFrom})`);
        const outcome = { column: target, from: targetFrom };
        const candidate = await evaluateVersion(ctx, o.model, version, o.data, outcome, allow);
        const baseline = o.baseline ? await evaluateVersion(ctx, o.model, await resolve(ctx, o.model, o.baseline), o.data, outcome, allow) : undefined;
        // A pipe was read by the scoring already: only a file is hashed.
        const dataSha256 = statSync(o.data).isFile() ? (await sha256File(o.data)).sha256 : undefined;
        const warnings: string[] = [];
        for (const e of baseline ? [candidate, baseline] : [candidate]) {
          const w = await trainingFileWarning(o.data, dataSha256, e, task, (await ctx.registry.getVersion(o.model, e.version)).manifest);
          if (w) warnings.push(w);
        }
        for (const w of warnings) progress(`warning: ${w}`);
        if (baseline && baseline.evaluation.task !== task)
          throw new AppError('BAD_REQUEST', `the baseline version ${baseline.version} is ${baseline.evaluation.task} and the candidate ${task}; compare versions of one task`);
        const gates = gatesFor(o, task, candidate.evaluation, baseline?.evaluation);
        const report = {
          model: o.model,
          task,
          data: { file: o.data, target, skipped: candidate.skipped, skipped_reasons: candidate.skippedReasons, not_numbers: candidate.notNumbers, unseen_categories: candidate.unseen },
          candidate: { version: candidate.version, ...candidate.evaluation },
          ...(baseline ? { baseline: { version: baseline.version, ...baseline.evaluation } } : {}),
          gates,
          warnings,
          generated_at: ctx.clock.now().toISOString(),
        };
        if (o.out) await writeFileAtomic(o.out, `${JSON.stringify(report, null, 2)}\n`);
        emit(o, report, () =>
          [
            table([{ label: `v${candidate.version}`, e: candidate.evaluation }, ...(baseline ? [{ label: `v${baseline.version} (baseline)`, e: baseline.evaluation }] : [])]),
            ...gates.map((g) => `gate ${g.gate}: ${g.passed ? 'passed' : 'FAILED'} (${describeGate(g)})`),
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
