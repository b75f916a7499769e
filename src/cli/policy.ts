import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../lib/errors.js';
import { describePolicy, parsePolicyFlag, Servable, type Policy } from '../inference/index.js';
import { notNumbersNote } from '../lib/csv-cell.js';
import { sha256File } from '../lib/files.js';
import { checkSkipped, scoreCsv } from '../monitoring/index.js';
import { chooseThreshold, chosenPolicy, crossFitted } from '../training/threshold.js';
import { parseBands, parseCosts } from './policy-flags.js';
import type { Costs } from '../training/train.js';
import { cliActor, parseNumberFlag, parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';
import { outcomeColumn, trainedOnFile, trainedRowsIn } from './training-file.js';

interface PolicyFlags extends OutputOptions {
  model: string;
  version: string;
  threshold?: string;
  cost?: string;
  bands?: string;
  policy?: string;
  data?: string;
  target?: string;
  allowSkipped?: boolean;
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description("A version's decision policy (score → decision)");
  policy
    .command('set')
    .description('Create a new version with the same ONNX artifact, contract and records as --version and another decision policy; promote and roll it back like any version')
    .requiredOption('--model <name>', 'model')
    .requiredOption('--version <n>', 'version whose model the new policy is for')
    .option(
      '--policy <spec>',
      "any policy for the version's task: threshold=0.4:block:allow, bands=low:5000,mid:20000,high (regression values), value, label, min_probability=0.6:review, class_map=France:retain,*:none",
    )
    .option('--threshold <t>', 'act when score >= t (binary: a probability; regression: a value)')
    .option('--cost <tp=..,fp=..,fn=..,tn=..>', 'the threshold that maximises profit on --data (scored through the model)')
    .option('--bands <review=0.3,block=0.7>', 'allow below the first bound, then each decision from its bound up')
    .option('--data <csv>', 'with --cost: labelled rows to choose the threshold on')
    .option('--target <column>', 'with --cost: the label column of --data (default: the column the version was trained to predict)')
    .option('--allow-skipped', 'with --cost: choose on the rows that can be scored even when some cannot (counted by reason)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate policy set --model churn --version 3 --threshold 0.42\n  modelgate policy set --model car-price --version 2 --policy bands=low:5000,mid:20000,high\n  modelgate policy set --model geography --version 1 --policy min_probability=0.6:review\n  modelgate policy set --model fraud --version 7 --bands review=0.3,block=0.7 --json\n  modelgate policy set --model churn --version 3 --cost tp=0,fp=-20,fn=-100,tn=0 --data holdout.csv --target Churn',
    )
    .action(async (o: PolicyFlags) =>
      withContext(o, async (ctx) => {
        const given = [o.threshold, o.cost, o.bands, o.policy].filter((x) => x !== undefined).length;
        if (given !== 1) throw new AppError('BAD_REQUEST', 'give exactly one of --policy, --threshold, --cost or --bands');
        const version = parseVersion(o.version)!;
        const { task } = await ctx.registry.getVersion(o.model, version);
        if (task !== 'binary' && (o.cost !== undefined || o.bands !== undefined)) {
          throw new AppError(
            'BAD_REQUEST',
            `--cost and --bands choose a policy on probabilities of a binary model; ${o.model} version ${version} is ${task}: give --policy (${task === 'regression' ? 'bands=low:5000,mid:20000,high, threshold=20000:high:low or value' : 'label, min_probability=0.6:review or class_map=A:act,*:none'})`,
          );
        }
        let next: Policy;
        let chosen: Record<string, unknown> = {};
        let costsChosenFor: Costs | undefined;
        let measured: { metrics: Record<string, number>; data: { file: string; rows: number; sha256?: string } } | undefined;
        const warnings: string[] = [];
        if (o.threshold !== undefined) {
          // The version's task bounds it (a probability for binary); registration checks.
          const t = parseNumberFlag(o.threshold, '--threshold', -Number.MAX_VALUE, Number.MAX_VALUE)!;
          next = { type: 'threshold', threshold: t, above: 'act', below: 'none' };
        } else if (o.policy !== undefined) next = parsePolicyFlag(o.policy);
        else if (o.bands !== undefined) next = parseBands(o.bands);
        else {
          if (!o.data)
            throw new AppError('BAD_REQUEST', '--cost chooses the threshold on labelled rows: give --data CSV (and --target COLUMN, unless it is the column the version was trained to predict)');
          const manifest = (await ctx.registry.getVersion(o.model, version)).manifest;
          const { column: target, from: targetFrom } = outcomeColumn(o.target, manifest, o.model, version, '--cost chooses the threshold on labelled rows');
          if (targetFrom) progress(`target: ${target} (${targetFrom})`);
          const costs = parseCosts(o.cost!);
          const found = await ctx.registry.source.fetch(o.model, version);
          if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${o.model} has no version ${version}`);
          const s = await Servable.load(found.bytes, found.spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 } });
          try {
            progress(`scoring ${o.data} with ${o.model} version ${version}…`);
            const r = await scoreCsv(o.data, s, { target, targetFrom });
            const note = checkSkipped(
              { ...r, scored: r.scores.length },
              {
                subject: `${o.data} with ${o.model} version ${version}`,
                consequence: 'no policy was made',
                allowSkipped: o.allowSkipped ?? false,
                allowWhat: 'choose the threshold on the other rows',
              },
            );
            if (note) progress(`  ${note}`);
            const read = notNumbersNote(r.notNumbers, r.notNumberExamples, r.scores.length);
            if (read) progress(`  ${read}`);
            if (r.unseenNote) progress(`  warning: ${r.unseenNote}`);
            // A pipe is read once, by the scoring: only a file is hashed.
            const sha256 = statSync(o.data).isFile() ? (await sha256File(o.data)).sha256 : undefined;
            const trained =
              (await trainedOnFile(o.data, version, manifest, sha256)) ??
              trainedRowsIn(
                version,
                manifest,
                found.spec.contract.features.map((f) => f.name),
                r.columns,
                r.scores.length,
              );
            if (trained) {
              warnings.push(`${trained}, so it is surer of those rows than of new ones, and a threshold chosen on them can do worse than the profit it promises; choose on rows it never saw`);
              progress(`  warning: ${warnings[warnings.length - 1]}`);
            }
            const c = chooseThreshold(r.scores, r.labels, costs);
            const picked = chosenPolicy(c, costs, { scores: r.scores, labels: r.labels });
            next = picked.policy;
            if (picked.caution) {
              warnings.push(picked.caution);
              progress(`  warning: ${picked.caution}`);
            }
            // What the rows realise at the threshold chosen on them flatters it; each half is decided at the other half's choice (threshold.ts).
            const fitted = crossFitted(r.scores, r.labels, costs);
            const perRow = fitted.profit_per_row!;
            chosen = { rows: r.scores.length, expected_profit: perRow * r.scores.length, expected_profit_per_row: perRow, cost_matrix: costs };
            const f = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');
            progress(
              `  expected profit ${perRow.toFixed(2)} a row on ${r.scores.length} rows; F1 ${f(fitted.f1)}, precision ${f(fitted.precision)}, recall ${f(fitted.recall)} (each half decided at the threshold chosen on the other half)`,
            );
            // The new policy's own figures, for monitoring to compare live outcomes with; not from
            // rows the version was trained on, where its scores are surer than on traffic.
            if (!trained) {
              const metrics = Object.fromEntries(
                Object.entries({ f1: fitted.f1, precision: fitted.precision, recall: fitted.recall, expected_profit_per_row: perRow }).filter(([, v]) => Number.isFinite(v)),
              );
              measured = { metrics, data: { file: o.data, rows: r.scores.length, ...(sha256 ? { sha256 } : {}) } };
            }
            costsChosenFor = costs;
          } finally {
            await s.release();
          }
        }
        const r = await ctx.registry.withPolicy({
          model: o.model,
          from: version,
          policy: next,
          ...(costsChosenFor ? { costs: costsChosenFor } : {}),
          ...(measured ? { measured } : {}),
          actor: cliActor(),
        });
        const unchanged = 'unchanged' in r;
        const leftOut = unchanged ? [] : (((r.manifest.training as { metrics_left_out?: string[] } | undefined)?.metrics_left_out ?? []) as string[]);
        emit(
          o,
          {
            model: r.model,
            version: r.version,
            from_version: version,
            policy: r.manifest.policy,
            ...(unchanged ? { unchanged } : {}),
            ...chosen,
            ...(leftOut.length ? { metrics_left_out: leftOut } : {}),
            ...(measured && !unchanged ? { metrics_measured: measured.metrics } : {}),
            ...(warnings.length ? { warnings } : {}),
          },
          () =>
            [
              unchanged
                ? `${r.model} version ${version} already has this policy (${describePolicy(r.manifest.policy)}); nothing created`
                : `${r.model} version ${r.version}: version ${version}'s model with policy ${describePolicy(r.manifest.policy)}`,
              ...(leftOut.length
                ? [`its held-out metrics leave out ${leftOut.join(', ')}: measured at the training policy, they are not this one's (monitoring compares ROC AUC and the others)`]
                : []),
              ...(measured && !unchanged
                ? [`its ${Object.keys(measured.metrics).join(', ')} are this policy's on ${measured.data.file} (cross-fitted), which monitoring compares live outcomes with`]
                : []),
              `next: modelgate promote --model ${r.model} --version ${r.version}`,
            ].join('\n'),
        );
      }),
    );
}
