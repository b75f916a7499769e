import path from 'node:path';
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../lib/duration.js';
import { AppError } from '../lib/errors.js';
import { planDataWarning, runActor, runWhy, type RetrainResult } from '../retrain/index.js';
import { cliActor, parseNumberFlag, parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

function steps(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((p) => !Number.isFinite(p) || p <= 0 || p > 100) || list.some((p, i) => i > 0 && p <= list[i - 1])) {
    throw new AppError('BAD_REQUEST', `--canary ${JSON.stringify(text)}: expected increasing percents between 1 and 100, e.g. 10,25,50,100`);
  }
  return list;
}

/**
 * A plan's data as the servers will read it, maybe days later and from another directory: a
 * local path made absolute, and a warning when it cannot be read from here (the servers may see
 * other files, so it is not refused).
 */
async function planData(data: string): Promise<string> {
  if (data.startsWith('s3://')) return data;
  const file = path.resolve(data);
  const warning = await planDataWarning(file);
  if (warning) progress(`warning: ${warning}`);
  return file;
}

/**
 * When the only gate failed is the comparison with the current version, the smallest
 * --max-metric-drop that would have let the candidate through: on a few thousand held-out rows a
 * difference in the third decimal is often noise, and the flag is the way to say so.
 */
function closeBehind(r: RetrainResult): string {
  const failed = r.gates.filter((g) => !g.passed);
  const vs = failed.length === 1 && failed[0]!.gate === 'vs_current' ? failed[0]! : undefined;
  const current = vs ? r.metrics.current[vs.metric] : undefined;
  if (!vs || vs.value === null || current === undefined) return '';
  // Rounded up at the fourth decimal, as shown: the value given passes.
  const needed = Math.ceil((current - vs.value) * 1e4 - 1e-9) / 1e4;
  return ` (the candidate's ${vs.metric} is ${(current - vs.value).toFixed(4)} below version ${r.from_version}'s; --max-metric-drop ${needed.toFixed(4)} lets a candidate that close through, where a difference that small is noise to you)`;
}

function describe(r: RetrainResult): string {
  // Unchanged after training (the candidate is a registered version again) has its metrics; unchanged data trained nothing.
  if (r.status === 'unchanged' && Object.keys(r.metrics.candidate).length) return `${r.model}: retrained from version ${r.from_version}, and ${r.reason ?? ''}; nothing was registered`;
  if (r.status === 'unchanged')
    return `${r.model}: nothing to retrain from version ${r.from_version}: ${r.reason ?? ''}; nothing was trained or registered (--same-data trains on it again anyway, after an upgrade of modelgate's trainer, say)`;
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(4));
  const metrics = Object.keys(r.metrics.candidate).filter((m) => m in r.metrics.current);
  // One column for the values, after the longest name (expected_profit_per_row pushed its own line out of it).
  const width = Math.max(10, ...metrics.map((m) => m.length));
  return [
    `${r.model}: retrained from version ${r.from_version} (${r.task})`,
    ...metrics.map((m) => `  ${m.padEnd(width)} candidate ${fmt(r.metrics.candidate[m])}  version ${r.from_version} ${fmt(r.metrics.current[m])}`),
    ...r.gates.map((g) => `gate ${g.gate}: ${g.passed ? 'passed' : `FAILED, short by ${fmt(g.short_by)}`} (${g.metric} ${fmt(g.value)} vs ${fmt(g.threshold)})`),
    ...r.warnings.map((w) => `warning: ${w}`),
    r.status === 'gated_out'
      ? `nothing was registered${closeBehind(r)}`
      : `registered version ${r.candidate_version}${r.canary ? `; canary started at ${r.canary.steps[0]} % (steps ${r.canary.steps.join(', ')}, promoted automatically when healthy)` : `; next: modelgate canary start --model ${r.model} --version ${r.candidate_version} --steps 10,25,50,100`}`,
  ].join('\n');
}

export function registerRetrainCommands(program: Command): void {
  const retrain = program
    .command('retrain')
    .description(
      "Train a model version again from its own run record (algorithm, parameters, target, columns, split, costs, gates) on new data, compare it with that version on the new data's held-out rows, register it only if every gate passes, and optionally start a stepped canary",
    )
    // Not requiredOption: commander would then demand them of the plan subcommands too.
    .option('--model <name>', 'model (required)')
    .option('--data <csv>', 'new training data (required): a CSV file or s3://bucket/key with the same columns and target')
    .option('--version <n>', 'the version to retrain and to beat (default production)')
    .option('--canary <steps>', 'start a stepped canary of the new version, e.g. 10,25,50,100 (automatic analysis; promoted when the last step stays healthy)')
    .option('--step-interval <duration>', 'with --canary: how long each step must stay healthy (default CANARY_STEP_INTERVAL)')
    .option('--max-metric-drop <x>', 'the main metric (binary ROC AUC, multiclass accuracy, regression R²) may be this far below the current version (default 0)')
    .option(
      '--same-data',
      'train even when the data is what the version, or a candidate retrained from it, was trained on, and register the candidate even when it is a registered version again (without it: nothing to do, said so)',
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate retrain --model churn --data s3://lake/churn/2026-12.csv\n  modelgate retrain --model car-price --data listings-december.csv --canary 10,25,50,100 --step-interval 30m --json',
    )
    .action(async (o: OutputOptions & { model?: string; data?: string; version?: string; canary?: string; stepInterval?: string; maxMetricDrop?: string; sameData?: boolean }) =>
      withContext(o, async (ctx) => {
        if (!o.model || !o.data)
          throw new AppError(
            'BAD_REQUEST',
            `give ${!o.model ? '--model NAME' : ''}${!o.model && !o.data ? ' and ' : ''}${!o.data ? '--data CSV' : ''}: the model to retrain and its new training data (modelgate retrain --help)`,
          );
        // Ctrl-C (or SIGTERM) stops the training and records the run as interrupted, instead of
        // leaving it 'running' for good; a second one quits at once.
        const interrupt = (signal: NodeJS.Signals) => {
          progress(`${signal}: stopping the retrain (again to quit at once)…`);
          void ctx.retrain.stop(`stopped by ${signal} while it trained; nothing was registered`);
        };
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        const r = await ctx.retrain
          .retrain({
            model: o.model,
            data: o.data,
            fromVersion: parseVersion(o.version),
            canarySteps: steps(o.canary),
            stepInterval: o.stepInterval,
            maxMetricDrop: parseNumberFlag(o.maxMetricDrop, '--max-metric-drop', 0, Number.MAX_VALUE),
            sameData: o.sameData,
            trigger: 'manual',
            actor: cliActor(),
            onProgress: (m) => progress(m),
          })
          .finally(() => {
            process.off('SIGINT', interrupt);
            process.off('SIGTERM', interrupt);
          });
        emit(o, r, () => describe(r));
        // Gated out, or registered without the canary asked for (one was started meanwhile): not what was asked.
        if (r.status === 'gated_out' || (o.canary && !r.canary)) process.exitCode = 1;
      }),
    );

  const plan = retrain.command('plan').description("A model's retrain plan: what the monitor's leader runs, once per interval, when a report recommends retraining");
  plan
    .command('set')
    .description('Create or replace the plan')
    .requiredOption('--model <name>', 'model')
    .requiredOption('--data <csv>', 'where the latest training data is: a CSV path the servers can read, or s3://bucket/key')
    .option('--canary <steps>', 'canary steps for the retrained version, e.g. 10,25,50,100 (default: register only)')
    .option('--step-interval <duration>', 'with --canary: how long each step must stay healthy')
    .option('--min-interval <duration>', 'at most one retrain per this long', '7d')
    .option('--max-metric-drop <x>', 'the main metric may be this far below the current version (default 0)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate retrain plan set --model churn --data s3://lake/churn/latest.csv --canary 10,50,100 --min-interval 7d')
    .action(async (o: OutputOptions & { model: string; data: string; canary?: string; stepInterval?: string; minInterval: string; maxMetricDrop?: string }) =>
      withContext(o, async (ctx) => {
        // The service checks these too; here they are said in the flags' own names.
        if (o.stepInterval !== undefined && !o.canary)
          throw new AppError('BAD_REQUEST', '--step-interval: how long each canary step must stay healthy, so only with --canary (e.g. --canary 10,50,100); give it, or leave --step-interval out');
        parseDuration(o.minInterval, '--min-interval');
        if (o.stepInterval !== undefined) parseDuration(o.stepInterval, '--step-interval');
        const data = await planData(o.data);
        const p = await ctx.retrain.setPlan({
          model: o.model,
          data,
          canarySteps: steps(o.canary),
          stepInterval: o.stepInterval,
          minInterval: o.minInterval,
          maxMetricDrop: parseNumberFlag(o.maxMetricDrop, '--max-metric-drop', 0, Number.MAX_VALUE),
          actor: cliActor(),
        });
        emit(
          o,
          p,
          () =>
            `${p.model}: when a monitoring report recommends retraining, retrain on ${p.data}${p.canary_steps.length ? ` and start a canary (${p.canary_steps.join(', ')})` : ''}, at most once every ${o.minInterval}`,
        );
      }),
    );
  plan
    .command('show')
    .description("Show a model's plan and its recent retrain runs")
    .requiredOption('--model <name>', 'model')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate retrain plan show --model churn --json')
    .action(async (o: OutputOptions & { model: string }) =>
      withContext(o, async (ctx) => {
        const { plan: p, runs } = await ctx.retrain.status(o.model);
        emit(o, { plan: p, runs }, () =>
          [
            p
              ? `${p.model}: retrain on ${p.data}${p.canary_steps.length ? `, canary ${p.canary_steps.join(', ')}` : ''}, at most every ${formatDuration(p.min_interval_ms)} (set by ${p.created_by})`
              : `${o.model} has no retrain plan: modelgate retrain plan set --model ${o.model} --data FILE`,
            ...runs.map(
              (r) =>
                `  ${r.started_at}  ${(r.trigger === 'manual' ? (runActor(r.detail) ?? 'manual') : 'plan').padEnd(14)} ${r.status.padEnd(14)} from v${r.from_version}${r.candidate_version ? ` → v${r.candidate_version}` : ''}${runWhy(r.detail) ? `: ${runWhy(r.detail)}` : ''}`,
            ),
          ].join('\n'),
        );
      }),
    );
  plan
    .command('remove')
    .description('Remove the plan (retraining is then manual only)')
    .requiredOption('--model <name>', 'model')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate retrain plan remove --model churn')
    .action(async (o: OutputOptions & { model: string }) =>
      withContext(o, async (ctx) => {
        const removed = await ctx.retrain.removePlan(o.model);
        emit(o, { model: o.model, removed }, () => (removed ? `${o.model}: retrain plan removed` : `${o.model} had no retrain plan`));
      }),
    );
}
