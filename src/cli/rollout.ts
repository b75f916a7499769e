import type { Command } from 'commander';
import { describeChanges, describeEnding, describeRolloutEvent, describeRules } from '../rollout/index.js';
import { AppError } from '../lib/errors.js';
import type { ArmOutcomes } from '../rollout/shadow-view.js';
import { cliActor, parseVersion, withContext } from './context.js';
import { emit, progress, table, type OutputOptions } from './output.js';

type Status = Awaited<ReturnType<import('../rollout/index.js').RolloutService['status']>>;

function percentOf(text: string, flag: string): number {
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || n > 100) throw new AppError('BAD_REQUEST', `${flag} must be a percentage from 0 to 100, got ${JSON.stringify(text)}`);
  return n;
}

/** Where the canary is among its steps; a percent set by hand between steps moves on to the step above it. */
function stepWords(s: Status): string {
  const n = s.steps.length;
  if (s.step !== null && s.steps[s.step - 1] === s.canary_percent) return `step ${s.step}/${n}`;
  const next = s.steps[s.step ?? 0];
  return `set by hand ${s.step === null ? 'before step 1' : `after step ${s.step}/${n}`}${next !== undefined ? `, next ${next}%` : ''}`;
}

type OutcomeMetric = keyof ArmOutcomes['standard_errors'];
const points = (x: number) => (x * 100).toFixed(1);
/** The outcome metrics in the order and form `canary status` prints them: name, value, standard error. */
const OUTCOME_WORDS: [OutcomeMetric, string, (v: number) => string, (se: number) => string][] = [
  ['accuracy', 'accuracy', (v) => `${points(v)}%`, points],
  ['false_positive_rate', 'FPR', (v) => `${points(v)}%`, points],
  ['roc_auc', 'AUC', (v) => v.toFixed(3), (se) => se.toFixed(3)],
  ['mae', 'MAE', (v) => v.toFixed(4), (se) => se.toFixed(4)],
];

/** An arm's outcome metrics with their standard errors: what chance alone moves each by (the rules weigh it). */
function outcomeWords(arm: string, a: ArmOutcomes): string {
  const metrics = OUTCOME_WORDS.flatMap(([k, label, show, showSe]) => {
    const v = a[k];
    const se = a.standard_errors[k];
    return v === null ? [] : [`, ${label} ${show(v)}${se === null ? '' : ` (SE ${showSe(se)})`}`];
  });
  return `${arm} ${a.labelled} labelled${metrics.join('')}`;
}

function describeStatus(s: Status): string {
  const lines: string[] = [];
  if (s.canary_version === null) {
    lines.push(`${s.model}: no canary running (production ${s.production_version ?? '-'})`);
    if (s.last_canary) lines.push(`last canary: ${describeEnding(s.last_canary, s.last_canary.at)}; modelgate canary history --model ${s.model} lists every step`);
  } else {
    lines.push(
      `${s.model}: canary v${s.canary_version} at ${s.canary_percent}% against ${s.target} v${s.production_version}${s.steps.length ? ` (${stepWords(s)} of [${s.steps.join(', ')}], every ${s.step_interval}${s.auto_promote ? ', auto-promote' : ''})` : ''}`,
    );
    if (s.arms) {
      const shares = decisionShares(s.arms.production.decision_rates, s.arms.canary.decision_rates);
      lines.push(
        table(
          (['production', 'canary'] as const).map((arm) => {
            const a = s.arms![arm];
            return {
              arm,
              version: a.version,
              requests: a.requests,
              scored: a.scored,
              cache_hits: a.cache_hits,
              errors: a.errors,
              error_rate: `${(a.error_rate * 100).toFixed(2)}%`,
              p50_ms: a.p50_ms,
              p95_ms: a.p95_ms,
              decisions: shares[arm],
            };
          }),
          ['arm', 'version', 'requests', 'scored', 'cache_hits', 'errors', 'error_rate', 'p50_ms', 'p95_ms', 'decisions'],
        ),
      );
    }
    if (s.outcomes) {
      const o = s.outcomes;
      lines.push(`outcomes from feedback: ${outcomeWords('production', o.production)}; ${outcomeWords('canary', o.canary)}${o.reason ? ` (${o.reason})` : ''}`);
    }
    lines.push(`rules: ${describeRules(s.analysis)}`);
    if (s.verdict) lines.push(`verdict: ${s.verdict.status}${s.verdict.failed ? ` — ${s.verdict.failed.detail}` : ''}${s.verdict.reason ? ` — ${s.verdict.reason}` : ''}`);
  }
  if (s.shadow) {
    const sh = s.shadow;
    const agreement = sh.label_agreement !== undefined ? ['class agreement', sh.label_agreement] : ['decision agreement', sh.decision_agreement ?? null];
    const diff =
      sh.mean_relative_error !== undefined
        ? `mean relative value error ${sh.mean_relative_error === null ? '-' : `${(sh.mean_relative_error * 100).toFixed(2)}%`}`
        : `mean |Δscore| ${sh.mean_abs_score_diff?.toFixed(4) ?? '-'}`;
    lines.push(
      `shadow v${sh.version} at ${sh.percent}%: ${sh.compared} compared with production v${sh.production_version ?? '-'} since ${sh.started_at}, ${agreement[0]} ${agreement[1] === null ? '-' : `${((agreement[1] as number) * 100).toFixed(1)}%`}, ${diff}, ${sh.errors} errors`,
    );
    // Both versions' answers to the same requests, judged by the outcomes fed back for them.
    if (sh.outcomes)
      lines.push(
        `shadow outcomes from feedback, on the same requests: ${outcomeWords(`production v${sh.production_version}`, sh.outcomes.production)}; ${outcomeWords(`shadow v${sh.version}`, sh.outcomes.shadow)}`,
      );
  }
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export function registerRolloutCommands(program: Command): void {
  const canary = program.command('canary').description('Canary rollouts: start, change, watch, stop, promote');

  canary
    .command('start')
    .description('Send a share of live traffic to a new version, analysed against production')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <n|slot>', 'canary version number, or a slot name (blue, green)')
    .option('--percent <p>', 'share of traffic for the canary (default: the first step)')
    .option('--steps <list>', 'progressive steps, e.g. 10,25,50,100')
    .option('--step-interval <duration>', 'how long each step must stay healthy, e.g. 10m')
    .option('--min-requests <n>', 'canary requests needed before a step is judged')
    .option('--min-scored <n>', 'model-scored requests (cache hits not counted) each arm needs before any automatic decision (default CANARY_MIN_SCORED)')
    .option('--max-error-ratio <x>', 'roll back when canary error rate > production × x (default 1.5)')
    .option('--max-p95-ratio <x>', 'roll back when canary p95 > production × x (default 1.3), beyond chance: over it by less holds the canary at its step')
    .option('--max-decision-delta-pp <pp>', 'roll back when a decision rate differs by more points, beyond chance (over it by less holds the canary)')
    .option('--max-score-psi <x>', 'roll back when the score PSI between arms exceeds x')
    .option('--max-fpr-delta-pp <pp>', 'outcomes (binary): roll back when the false-positive rates from feedback differ by more points, beyond chance (over it by less holds the canary)')
    .option('--max-accuracy-drop-pp <pp>', 'outcomes (binary, multiclass): roll back when canary accuracy from feedback is this many points below production')
    .option('--max-auc-drop <x>', 'outcomes (binary): roll back when canary ROC AUC from feedback is this far below production')
    .option('--max-mae-ratio <x>', 'outcomes (regression): roll back when canary MAE from feedback > production × x')
    .option(
      '--min-labels <n>',
      'outcomes: labelled predictions each arm needs before the outcome rules are checked (default 100); until they are, the canary stays at its step, and a rule broken by no more than chance gives (3.09 standard errors) holds it there too',
    )
    .option('--auto-promote', 'promote when the last step stays healthy')
    .option('--production-version <n>', 'the version production must be now (refused otherwise: the canary is compared with what production serves)')
    .option('--target <alias>', 'alias the canary competes for and fills on promotion (default production)')
    .option('--accept-new-inputs', "start it even when the version takes none of the target version's features (refused otherwise: a graph under the wrong model name, almost always)")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nRun again for the canary already running, it changes only what you give (percent, steps, interval, rules, --auto-promote) and keeps the rest, the percent it has stepped to included.\n\nExamples:\n  modelgate canary start --model churn --version 4 --percent 10\n  modelgate canary start --model churn --version 4 --steps 10,25,50,100 --step-interval 10m --auto-promote --json\n  modelgate canary start --model fraud --version 7 --percent 20 --max-fpr-delta-pp 5 --min-labels 200',
    )
    .action(
      async (
        o: OutputOptions & {
          model: string;
          version: string;
          percent?: string;
          steps?: string;
          stepInterval?: string;
          minRequests?: string;
          minScored?: string;
          maxErrorRatio?: string;
          maxP95Ratio?: string;
          maxDecisionDeltaPp?: string;
          maxScorePsi?: string;
          maxFprDeltaPp?: string;
          maxAccuracyDropPp?: string;
          maxAucDrop?: string;
          maxMaeRatio?: string;
          minLabels?: string;
          autoPromote?: boolean;
          productionVersion?: string;
          target?: string;
          acceptNewInputs?: boolean;
        },
      ) =>
        withContext(o, async (ctx) => {
          const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
          const defined = (o: Record<string, number | undefined>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
          const outcomes = defined({
            max_fpr_delta_pp: num(o.maxFprDeltaPp),
            max_accuracy_drop_pp: num(o.maxAccuracyDropPp),
            max_auc_drop: num(o.maxAucDrop),
            max_mae_ratio: num(o.maxMaeRatio),
            min_labels_per_arm: num(o.minLabels),
          });
          const started = await ctx.rollouts
            .startCanary({
              model: o.model,
              canary_version: /^[0-9]+$/.test(o.version) ? Number(o.version) : o.version,
              production_version: parseVersion(o.productionVersion, '--production-version'),
              canary_percent: o.percent === undefined ? undefined : percentOf(o.percent, '--percent'),
              steps: o.steps?.split(',').map((x) => percentOf(x.trim(), '--steps')),
              step_interval: o.stepInterval,
              min_requests: num(o.minRequests),
              analysis: {
                ...defined({
                  max_error_ratio: num(o.maxErrorRatio),
                  max_p95_ratio: num(o.maxP95Ratio),
                  max_decision_rate_delta_pp: num(o.maxDecisionDeltaPp),
                  max_score_psi: num(o.maxScorePsi),
                  min_scored_per_arm: num(o.minScored),
                }),
                ...(Object.keys(outcomes).length ? { outcomes } : {}),
              },
              auto_promote: o.autoPromote,
              target: o.target,
              accept_new_inputs: o.acceptNewInputs,
              actor: cliActor(),
            })
            .catch((e: unknown) => {
              // The service names the API's field; here it is a flag.
              if (e instanceof AppError && e.details?.field === 'canary_percent')
                throw new AppError(e.code, `no canary of ${o.model} is running, so this starts one: give --percent N or --steps 10,25,50,100`, { field: '--percent' });
              throw e;
            });
          const now = await ctx.rollouts.status(o.model);
          const s = { ...now, warnings: [...(started.warnings ?? []), ...now.warnings] };
          const { changed } = started;
          if (!changed) return emit(o, s, () => describeStatus(s));
          const what = Object.keys(changed).length ? `changed ${describeChanges(changed)}` : 'already running as asked: nothing changed';
          emit(o, { ...s, changed }, () => `canary v${String(started.canary_version)} ${what}\n${describeStatus(s)}`);
        }),
    );

  canary
    .command('set')
    .description('Change the percent of the running canary')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--percent <p>', 'new share of traffic for the canary')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate canary set --model churn --percent 50')
    .action(async (o: OutputOptions & { model: string; percent: string }) =>
      withContext(o, async (ctx) => {
        await ctx.rollouts.setPercent(o.model, percentOf(o.percent, '--percent'), cliActor());
        const s = await ctx.rollouts.status(o.model);
        emit(o, s, () => describeStatus(s));
      }),
    );

  canary
    .command('status')
    .description('Versions, percent, step, per-arm numbers and the analysis verdict so far')
    .requiredOption('--model <name>', 'model name')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate canary status --model churn --json')
    .action(async (o: OutputOptions & { model: string }) =>
      withContext(o, async (ctx) => {
        const s = await ctx.rollouts.status(o.model);
        emit(o, s, () => describeStatus(s));
      }),
    );

  canary
    .command('history')
    .description('Every rollout transition of a model, newest first: canary starts, steps, promotions, rollbacks, stops and shadows, with who did each')
    .requiredOption('--model <name>', 'model name')
    .option('--limit <n>', 'most rows', '50')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate canary history --model churn --limit 20')
    .action(async (o: OutputOptions & { model: string; limit: string }) =>
      withContext(o, async (ctx) => {
        await ctx.registry.getModel(o.model);
        const events = await ctx.rollouts.events(o.model, Math.min(1000, Math.max(1, Number(o.limit) || 50)));
        emit(o, { model: o.model, events }, () =>
          events.length
            ? table(
                events.map((e) => ({ at: e.at, what: describeRolloutEvent(e), by: e.actor })),
                ['at', 'what', 'by'],
              )
            : `${o.model}: no canary or shadow has run yet`,
        );
      }),
    );

  canary
    .command('stop')
    .description('Stop the canary: all traffic back to production (recorded as a manual rollback with who and why)')
    .requiredOption('--model <name>', 'model name')
    .option('--reason <text>', 'why, kept in the rollback log')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate canary stop --model churn --reason "p99 alarm on the payments dashboard"')
    .action(async (o: OutputOptions & { model: string; reason?: string }) =>
      withContext(o, async (ctx) => {
        const r = await ctx.rollouts.stopCanary(o.model, cliActor(), o.reason);
        emit(o, r, () =>
          r.stopped
            ? `${o.model}: canary v${r.canary_version} stopped; all traffic on v${r.production_version}`
            : `${o.model}: no canary running; all traffic on ${r.production_version === null ? 'no version (nothing in production)' : `v${r.production_version}`}`,
        );
      }),
    );

  canary
    .command('promote')
    .description('Make the canary the production (or target slot) version')
    .requiredOption('--model <name>', 'model name')
    .option('--archive-previous', 'archive the version it replaces')
    .option('--version <n>', 'only if the running canary is this version (the one whose status you judged)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate canary promote --model churn --archive-previous\n  modelgate canary promote --model churn --version 4')
    .action(async (o: OutputOptions & { model: string; archivePrevious?: boolean; version?: string }) =>
      withContext(o, async (ctx) => {
        const r = await ctx.rollouts.promoteCanary(o.model, { archive_previous: o.archivePrevious, canaryVersion: parseVersion(o.version), actor: cliActor() });
        if (r && 'warnings' in r) for (const w of r.warnings ?? []) progress(`warning: ${w}`);
        emit(o, r, () =>
          r && 'already' in r
            ? `${o.model}: ${r.alias} is v${r.version} already (no canary running); nothing to promote`
            : `${o.model}: ${r?.alias} → v${r?.version} (was v${r?.previous_version}${r && 'archived_version' in r ? ', archived' : ''})`,
        );
      }),
    );

  const shadow = program.command('shadow').description('Shadow traffic: score copies of live requests with another version, never returned');
  shadow
    .command('start')
    .description('Start (or change) shadow scoring for a model')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <n>', 'version that scores the copies')
    .option('--percent <p>', 'share of requests copied (default 100; for the shadow already running, its percent stays unless given)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nRun again for the shadow already running, it changes only the percent given and its comparison goes on; another version replaces it.\n\nExample:\n  modelgate shadow start --model churn --version 5 --percent 50',
    )
    .action(async (o: OutputOptions & { model: string; version: string; percent?: string }) =>
      withContext(o, async (ctx) => {
        await ctx.rollouts.setShadow(o.model, parseVersion(o.version)!, o.percent === undefined ? undefined : percentOf(o.percent, '--percent'), cliActor());
        const s = await ctx.rollouts.status(o.model);
        emit(o, s, () => describeStatus(s));
      }),
    );
  shadow
    .command('stop')
    .description('Stop shadow scoring')
    .requiredOption('--model <name>', 'model name')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate shadow stop --model churn')
    .action(async (o: OutputOptions & { model: string }) =>
      withContext(o, async (ctx) => {
        const { stopped } = await ctx.rollouts.setShadow(o.model, null, undefined, cliActor());
        const s = { ...(await ctx.rollouts.status(o.model)), stopped };
        emit(o, s, () => (stopped ? `${o.model}: shadow stopped` : `${o.model}: no shadow running; nothing to stop`));
      }),
    );

  program
    .command('rollbacks')
    .description('Canary rollbacks, newest first: versions, reason, trigger metric, observed value, threshold, who')
    .option('--model <name>', 'only this model')
    .option('--limit <n>', 'most rows', '50')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate rollbacks --model churn --json')
    .action(async (o: OutputOptions & { model?: string; limit: string }) =>
      withContext(o, async (ctx) => {
        const [rows, total] = await Promise.all([ctx.rollouts.rollbacks(o.model, Math.min(1000, Math.max(1, Number(o.limit) || 50))), ctx.rollouts.countRollbacks(o.model)]);
        emit(o, { rollbacks: rows, total }, () =>
          rows.length
            ? table(
                rows.map((r) => ({ ...r, observed: r.observed === null ? null : Number(r.observed.toFixed(4)), threshold: r.threshold === null ? null : Number(r.threshold.toFixed(4)) })),
                ['at', 'model', 'canary_version', 'production_version', 'trigger_metric', 'observed', 'threshold', 'rolled_back_by', 'reason'],
              )
            : 'no rollbacks',
        );
      }),
    );
}

/**
 * Each arm's decision shares in one order, production's most frequent first, then what only the
 * canary decides (a share an arm never gave reads 0.0%), so the two rows read side by side: each
 * arm listed its own in the order it first met them (`act=36.2% none=63.8%` over `none=60.9% act=39.1%`).
 */
export function decisionShares(production: Record<string, number>, canary: Record<string, number>): { production: string; canary: string } {
  const byShare = (rates: Record<string, number>) => Object.keys(rates).sort((x, y) => rates[y] - rates[x]);
  const order = [...new Set([...byShare(production), ...byShare(canary)])];
  const line = (rates: Record<string, number>) => order.map((d) => `${d}=${((rates[d] ?? 0) * 100).toFixed(1)}%`).join(' ');
  return { production: line(production), canary: line(canary) };
}
