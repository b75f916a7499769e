import type { Command } from 'commander';
import { AppError } from '../lib/errors.js';
import { canonicalJson, MODEL_NAME, sha256 } from '../registry/index.js';
import { ingestCsv, TRAINED_CELL_READING, type Ingested, type TrainingTask } from '../training/csv.js';
import { trainKindModel } from '../training/train-kinds.js';
import type { Context } from '../server/context.js';
import { checkPolicy, parsePolicyFlag, type Policy } from '../inference/index.js';
import type { ReferenceProfile } from '../registry/index.js';
import { indexSplit, randomSplit, trainModel, type Algorithm, type Split } from '../training/train.js';
import { timeSplit, timeSplitLine, timeSplitRecord } from '../training/time-split.js';
import type { RegressionLoss } from '../training/gbdt.js';
import { leakageWarning, leakingColumns, type LeakingColumn } from '../training/leakage.js';
import type { Dataset } from '../training/dataset.js';
import { cliActor, parseNumberFlag, withContext } from './context.js';
import { parseBands, parseCosts } from './policy-flags.js';
import { describePolicy } from '../inference/index.js';
import { promoteRegistered, warnIfUnlikeProduction } from './decisions-warning.js';
import { emit, progress, type OutputOptions } from './output.js';

interface TrainFlags extends OutputOptions {
  data: string;
  target: string;
  positive?: string;
  model: string;
  algo: string;
  exclude?: string;
  categorical?: string;
  numeric?: string;
  include?: string;
  testFraction: string;
  split: string;
  timeColumn?: string;
  groupCopies?: boolean;
  seed: string;
  cost?: string;
  bands?: string;
  minAuc?: string;
  minF1?: string;
  minR2?: string;
  maxMae?: string;
  minAccuracy?: string;
  task?: string;
  loss?: string;
  policy?: string;
  l2?: string;
  rounds?: string;
  learningRate?: string;
  maxLeaves?: string;
  maxDepth?: string;
  register?: boolean;
  ifChanged?: boolean;
  promote?: boolean;
}

const list = (v?: string) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** A progress bar on a terminal; a line every 10 % otherwise (CI logs). `step`: what one step is (a boosting round, a Newton step). */
function bar(of: number, step = 'round') {
  const tty = process.stderr.isTTY;
  let lastShown = -1;
  return (p: { round: number; trainLoss: number; validationLoss?: number }) => {
    const share = Math.min(1, p.round / of);
    const text = `  ${step} ${p.round}/${of}  train loss ${p.trainLoss.toFixed(4)}${p.validationLoss !== undefined ? `  validation loss ${p.validationLoss.toFixed(4)}` : ''}`;
    if (tty) process.stderr.write(`\r[${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')}]${text}`);
    else if (Math.floor(share * 10) > lastShown) {
      lastShown = Math.floor(share * 10);
      progress(text);
    }
  };
}

/**
 * Runs a fit that draws a bar(), ends the bar's line and prints the fit's cautions. What the
 * trainer throws about the data (a constant column, too few rows) is the user's to fix: a 400.
 */
function fitting<T extends { cautions: string[] }>(fit: () => T): T {
  let trained: T;
  try {
    trained = fit();
  } catch (e) {
    throw e instanceof AppError ? e : new AppError('BAD_REQUEST', (e as Error).message);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const c of trained.cautions) progress(`  warning: ${c}`);
  return trained;
}

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description(
      'Train a model on a CSV (gradient-boosted trees, or a linear model: logistic, multinomial logistic or ridge regression), measure it on held-out rows, and optionally register and promote it; binary, multiclass or regression, read from the target',
    )
    .requiredOption('--data <csv>', 'training data with a header row')
    .requiredOption('--target <column>', 'what to predict: 0/1, yes/no or true/false (binary), 3 to 50 classes (multiclass), or a number with many values (regression)')
    .option('--positive <value>', 'a binary target of two other values (e.g. Left and Stayed): the one that counts as 1, whose probability the score is')
    .requiredOption('--model <name>', 'model name to register under')
    .option('--task <binary|multiclass|regression>', 'what the target is (default: detected from it, and printed)')
    .option('--algo <gbdt|logreg|linear>', 'gbdt, or a linear model (logreg and linear are the same: logistic, multinomial logistic or ridge regression by task)', 'gbdt')
    .option('--loss <squared_error|absolute_error|huber>', 'regression with gbdt: the loss (default squared_error)')
    .option('--l2 <x>', 'linear models: the L2 penalty (default 1)')
    .option('--policy <spec>', 'multiclass or regression: the decision policy (e.g. min_probability=0.6:review, bands=low:5000,mid:20000,high); default label / value')
    .option('--min-r2 <x>', 'gate (regression): held-out R² at least this')
    .option('--max-mae <x>', 'gate (regression): held-out MAE at most this')
    .option('--min-accuracy <x>', 'gate (multiclass): held-out accuracy at least this')
    .option('--exclude <a,b>', 'columns to leave out')
    .option('--categorical <a,b>', 'columns to treat as categorical')
    .option(
      '--include <a,b>',
      'keep columns that look like names or identifiers (more than 1,000 distinct values, or distinct values above 20 % of the rows), or that alone give the target away, which --register otherwise refuses (serving must have them when it decides)',
    )
    .option('--numeric <a,b>', 'columns to treat as numeric')
    .option('--test-fraction <f>', 'share of rows held out', '0.25')
    .option(
      '--split <index|random|time>',
      'index: row i is held out when i % (1/f) == 0 (reproducible by any tool); random: seeded and stratified; time: the latest rows by --time-column (out of time)',
      'index',
    )
    .option('--time-column <col>', 'with --split time: the column that says when each row happened (a date, a date and time, or a number such as a month index); not a feature')
    .option('--group-copies', 'keep a row and its exact copies (every column, the target too) on one side of the split: for copies that are one event recorded more than once, such as group bookings')
    .option('--seed <n>', 'seed for --split random and the validation slice', '42')
    .option('--cost <tp=..,fp=..,fn=..,tn=..>', 'value of each outcome; the threshold then maximises profit (else F1)')
    .option('--bands <review=0.3,block=0.7>', 'a three-way policy instead of a threshold: allow below the first bound, then each decision from its bound up')
    .option('--min-auc <x>', 'gate: held-out ROC AUC at least this')
    .option('--min-f1 <x>', 'gate: held-out F1 at least this')
    .option('--rounds <n>', 'gbdt: most boosting rounds (early stopping may use fewer)')
    .option('--learning-rate <x>', 'gbdt: shrinkage')
    .option('--max-leaves <n>', 'gbdt: leaves per tree')
    .option('--max-depth <n>', 'gbdt: depth per tree (0 = unlimited)')
    .option('--register', 'register the model if every gate passes')
    .option('--promote', 'with --register: promote the new version to production')
    .option(
      '--if-changed',
      'with --register: when the latest version is this training already (the same graph, policy and data; training is seeded), register nothing and name it (for jobs that may run twice)',
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate train --data bookings.csv --target is_canceled --model hotel --exclude reservation_status,reservation_status_date\n  modelgate train --data churn.csv --target Churn --model churn --algo logreg --cost tp=0,fp=-20,fn=-100,tn=0 --min-auc 0.8 --register --if-changed --promote --json\n  modelgate train --data bookings.csv --target adr --model hotel-adr --exclude reservation_status,reservation_status_date --min-r2 0.6 --register\n  modelgate train --data churn.csv --target Contract --model contract --task multiclass --policy min_probability=0.6:review\n  modelgate train --data customers.csv --target Attrition_Flag --positive "Attrited Customer" --model attrition --register\n  modelgate train --data transactions.csv --target is_fraud --model fraud --split time --time-column created_at',
    )
    .action(async (o: TrainFlags) =>
      withContext(o, async (ctx) => {
        if (o.algo !== 'gbdt' && o.algo !== 'logreg' && o.algo !== 'linear') throw new AppError('BAD_REQUEST', `--algo must be gbdt, logreg or linear, got ${JSON.stringify(o.algo)}`);
        if (o.task !== undefined && !['binary', 'multiclass', 'regression'].includes(o.task))
          throw new AppError('BAD_REQUEST', `--task must be binary, multiclass or regression, got ${JSON.stringify(o.task)}`);
        if (o.loss !== undefined && !['squared_error', 'absolute_error', 'huber'].includes(o.loss))
          throw new AppError('BAD_REQUEST', `--loss must be squared_error, absolute_error or huber, got ${JSON.stringify(o.loss)}`);
        if (o.split !== 'index' && o.split !== 'random' && o.split !== 'time') throw new AppError('BAD_REQUEST', `--split must be index, random or time, got ${JSON.stringify(o.split)}`);
        if (o.split === 'time' && !o.timeColumn) throw new AppError('BAD_REQUEST', '--split time holds out the latest rows: name the column that says when each row happened with --time-column');
        if (o.timeColumn && o.split !== 'time') throw new AppError('BAD_REQUEST', `--time-column orders the rows for --split time; add --split time (the ${o.split} split does not read it)`);
        if (o.split === 'time' && o.groupCopies)
          throw new AppError(
            'BAD_REQUEST',
            '--group-copies keeps copies together in an index or random split; a time split puts each row at its own time, so copies of one moment are on one side already',
          );
        if (o.promote && !o.register) throw new AppError('BAD_REQUEST', '--promote needs --register');
        if (o.ifChanged && !o.register) throw new AppError('BAD_REQUEST', '--if-changed needs --register');
        const testFraction = parseNumberFlag(o.testFraction, '--test-fraction', 0.05, 0.5)!;
        const seed = parseNumberFlag(o.seed, '--seed', 0, 2 ** 31)!;
        const minAuc = parseNumberFlag(o.minAuc, '--min-auc', 0, 1);
        const minF1 = parseNumberFlag(o.minF1, '--min-f1', 0, 1);
        const costs = o.cost ? parseCosts(o.cost) : undefined;
        const bands = o.bands ? parseBands(o.bands) : undefined;
        // A flag of the other algorithm was taken and ignored: --l2 1000 with gbdt, or with a binary
        // logreg (whose "did not converge; raise --l2" then could not be followed).
        const treeFlags = (['rounds', 'learningRate', 'maxLeaves', 'maxDepth', 'loss'] as const).filter((k) => o[k] !== undefined).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        if (o.algo === 'gbdt' && o.l2 !== undefined)
          throw new AppError('BAD_REQUEST', '--l2 is the penalty of a linear model; gbdt takes --rounds, --learning-rate, --max-leaves and --max-depth (or give --algo logreg)');
        if (o.algo !== 'gbdt' && treeFlags.length)
          throw new AppError('BAD_REQUEST', `${treeFlags.join(', ')} ${treeFlags.length > 1 ? 'are' : 'is'} for gbdt; a linear model (--algo ${o.algo}) takes --l2`);
        const l2 = parseNumberFlag(o.l2, '--l2', 0, 1e9);
        const gbdt = {
          ...(o.rounds ? { rounds: parseNumberFlag(o.rounds, '--rounds', 1, 100_000) } : {}),
          ...(o.learningRate ? { learningRate: parseNumberFlag(o.learningRate, '--learning-rate', 1e-4, 1) } : {}),
          ...(o.maxLeaves ? { maxLeaves: parseNumberFlag(o.maxLeaves, '--max-leaves', 2, 4096) } : {}),
          ...(o.maxDepth ? { maxDepth: parseNumberFlag(o.maxDepth, '--max-depth', 0, 64) } : {}),
          seed,
        };
        if (!MODEL_NAME.test(o.model))
          throw new AppError('BAD_REQUEST', `--model ${JSON.stringify(o.model)}: use lower-case letters, digits, dot, dash or underscore (up to 64), starting with a letter or digit`);
        progress(`[1/3] reading ${o.data}`);
        const ingested = await ingestCsv(o.data, {
          target: o.target,
          task: o.task as TrainingTask | undefined,
          exclude: list(o.exclude),
          categorical: list(o.categorical),
          numeric: list(o.numeric),
          include: list(o.include),
          ...(o.positive !== undefined ? { positive: o.positive } : {}),
          ...(o.timeColumn ? { orderBy: o.timeColumn } : {}),
          onProgress: progress,
        });
        for (const w of ingested.warnings) progress(`  warning: ${w}`);
        progress(`  task: ${ingested.taskReason}`);
        // Before minutes of training: a version of another task would be refused at registration.
        if (o.register) await ctx.registry.checkTask(o.model, ingested.task);
        if (ingested.task !== 'binary') {
          await trainKind(ctx, o, ingested, { testFraction, seed, gbdt, l2 });
          return;
        }
        if (o.loss || o.policy || o.minR2 || o.maxMae || o.minAccuracy)
          throw new AppError(
            'BAD_REQUEST',
            `${o.target} is a binary target: --loss, --policy, --min-r2, --max-mae and --min-accuracy are for regression and multiclass (a binary model takes --cost, --bands, --min-auc, --min-f1)`,
          );
        const split = splitOf(o, ingested, testFraction, seed);
        if (new Set(split.test.label).size < 2 || new Set(split.train.label).size < 2)
          throw new AppError('BAD_REQUEST', `${o.data}: the ${o.split} split leaves one part with a single class; use --split random or more data`);
        const { leak, leaking, refusal } = leakCheck(o, split);
        progress(`[2/3] training ${o.algo} on ${split.train.rows} rows (${split.test.rows} held out)`);
        const copied = copiesLine(split);
        if (copied) progress(`  ${copied}`);
        const algo: Algorithm = o.algo === 'gbdt' ? 'gbdt' : 'logreg';
        const trained = fitting(() => trainModel({ data: ingested.data, algo, split, costs, bands, gbdt, l2, onProgress: algo === 'gbdt' ? bar(gbdt.rounds ?? 200) : bar(50, 'Newton step') }));
        const m = trained.metrics;
        const gates = [
          ...(minAuc !== undefined ? [{ gate: 'min_auc', metric: 'roc_auc', threshold: minAuc, value: m.roc_auc ?? null }] : []),
          ...(minF1 !== undefined ? [{ gate: 'min_f1', metric: 'f1', threshold: minF1, value: m.f1 ?? null }] : []),
        ].map((g) => ({ ...g, passed: g.value !== null && g.value >= g.threshold }));
        const run = {
          ...runRecord(o, ingested, { testFraction, seed, split }, gates),
          ...trained.run,
          task: 'binary',
          metrics: m,
        };
        const {
          registered,
          promoted,
          warnings: promotion,
        } = await registerIfPassed(ctx, o, refusal ? [...gates, { passed: false }] : gates, {
          onnx: trained.onnx,
          policy: trained.policy,
          task: 'binary',
          run,
          reference: trained.reference,
          sha256: ingested.sha256,
          description: `${o.algo} trained on ${o.data}`,
        });
        const out = {
          run,
          metrics: m,
          policy: trained.policy,
          gates,
          ...outcomeFields([...ingested.warnings, ...(leak ? [leak] : []), ...copiesWarning(split), ...trained.cautions, ...promotion], leaking, registered, promoted),
        };
        const fmt = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));
        emit(o, out, () =>
          [
            `${o.algo} on ${split.train.rows} rows, ${split.test.rows} held out (${o.split} split); ${fitSteps(algo, 'binary', trained.run.rounds)}, ${(trained.run.duration_ms / 1000).toFixed(1)} s`,
            `held out: ROC AUC ${fmt(m.roc_auc)}, PR AUC ${fmt(m.pr_auc)}, F1 ${fmt(m.f1)}, precision ${fmt(m.precision)}, recall ${fmt(m.recall)}, Brier ${fmt(m.brier)}, log loss ${fmt(m.log_loss)}`,
            `policy: ${trained.policy.type === 'threshold' && trained.policy.above !== trained.policy.below ? `act when score >= ${trained.policy.threshold.toFixed(4)} (maximises ${costs ? 'profit' : 'F1'})` : describePolicy(trained.policy)}; action rate ${fmt(m.action_rate)}${m.expected_profit_per_row !== undefined ? `, expected profit ${m.expected_profit_per_row.toFixed(2)} a row` : ''}`,
            ...(trained.run.params.threshold_metrics === 'cross_fitted'
              ? [`(F1, precision, recall${costs ? ' and profit' : ''}: each half of the held-out rows decided at the threshold chosen on the other half, as rows that did not choose it will be)`]
              : []),
            ...outcomeLines(o, gates, registered, promoted, refusal),
          ].join('\n'),
        );
        reportFailedGates(o, gates, refusal);
      }),
    );
}

/** Train a regression or multiclass model: the same steps as binary, with the task's metrics, policy and gates. */
async function trainKind(ctx: Context, o: TrainFlags, ingested: Ingested, opts: { testFraction: number; seed: number; gbdt: Record<string, unknown>; l2: number | undefined }): Promise<void> {
  const task = ingested.task as 'regression' | 'multiclass';
  if (o.cost || o.bands || o.minAuc || o.minF1)
    throw new AppError(
      'BAD_REQUEST',
      `${o.target} is a ${task} target: --cost, --bands, --min-auc and --min-f1 are for binary models (this one takes --policy${task === 'regression' ? ', --min-r2, --max-mae, --loss' : ', --min-accuracy'})`,
    );
  if (task === 'multiclass' && (o.minR2 || o.maxMae || o.loss)) throw new AppError('BAD_REQUEST', '--min-r2, --max-mae and --loss are for regression targets');
  if (task === 'regression' && o.minAccuracy) throw new AppError('BAD_REQUEST', '--min-accuracy is for classifiers');
  const minR2 = parseNumberFlag(o.minR2, '--min-r2', -1e9, 1);
  const maxMae = parseNumberFlag(o.maxMae, '--max-mae', 0, Number.MAX_VALUE);
  const minAccuracy = parseNumberFlag(o.minAccuracy, '--min-accuracy', 0, 1);
  const { l2 } = opts;
  const policy = o.policy ? parsePolicyFlag(o.policy) : undefined;
  const split = splitOf(o, ingested, opts.testFraction, opts.seed);
  const classes = ingested.data.classes ?? [];
  if (policy) checkPolicy(policy, task, classes);
  if (task === 'multiclass') {
    const seen = new Set(split.train.classIndex);
    const absent = classes.filter((_c, k) => !seen.has(k));
    if (absent.length)
      progress(
        `  warning: class${absent.length > 1 ? 'es' : ''} ${absent.map((c) => JSON.stringify(c)).join(', ')} ha${absent.length > 1 ? 've' : 's'} no rows in the training split; the model will almost never predict ${absent.length > 1 ? 'them' : 'it'}`,
      );
    progress(`  classes: ${classes.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  const { leak, leaking, refusal } = leakCheck(o, split);
  const algo: Algorithm = o.algo === 'gbdt' ? 'gbdt' : 'logreg';
  progress(`[2/3] training ${kindAlgoName(algo, task)} (${task}) on ${split.train.rows} rows (${split.test.rows} held out)`);
  const copied = copiesLine(split);
  if (copied) progress(`  ${copied}`);
  const trained = fitting(() =>
    trainKindModel({
      data: ingested.data,
      algo,
      split,
      gbdt: opts.gbdt,
      loss: o.loss as RegressionLoss | undefined,
      l2,
      policy,
      onProgress: algo === 'gbdt' ? bar(Number(opts.gbdt.rounds ?? 200)) : bar(50, 'Newton step'),
    }),
  );
  const m = trained.metrics;
  const gates = [
    ...(minR2 !== undefined ? [{ gate: 'min_r2', metric: 'r2', threshold: minR2, value: m.r2 ?? null, passed: m.r2 !== undefined && m.r2 >= minR2 }] : []),
    ...(maxMae !== undefined ? [{ gate: 'max_mae', metric: 'mae', threshold: maxMae, value: m.mae ?? null, passed: m.mae !== undefined && m.mae <= maxMae }] : []),
    ...(minAccuracy !== undefined
      ? [{ gate: 'min_accuracy', metric: 'accuracy', threshold: minAccuracy, value: m.accuracy ?? null, passed: m.accuracy !== undefined && m.accuracy >= minAccuracy }]
      : []),
  ];
  const run = { ...runRecord(o, ingested, { ...opts, split }, gates), ...trained.run, metrics: m };
  const {
    registered,
    promoted,
    warnings: promotion,
  } = await registerIfPassed(ctx, o, refusal ? [...gates, { passed: false }] : gates, {
    onnx: trained.onnx,
    policy: trained.policy,
    task,
    run,
    reference: trained.reference,
    sha256: ingested.sha256,
    description: `${kindAlgoName(algo, task)} (${task}) trained on ${o.data}`,
  });
  const out = {
    task,
    run,
    metrics: m,
    policy: trained.policy,
    gates,
    ...outcomeFields([...ingested.warnings, ...(leak ? [leak] : []), ...copiesWarning(split), ...trained.cautions, ...promotion], leaking, registered, promoted),
  };
  const fmt = (v: number | undefined | null) => (v === undefined || v === null ? '—' : v.toFixed(4));
  emit(o, out, () =>
    [
      `${kindAlgoName(algo, task)} (${task}) on ${split.train.rows} rows, ${split.test.rows} held out (${o.split} split); ${fitSteps(algo, task, trained.run.rounds)}, ${(trained.run.duration_ms / 1000).toFixed(1)} s`,
      task === 'regression'
        ? `held out: MAE ${fmt(m.mae)}, RMSE ${fmt(m.rmse)}, R² ${fmt(m.r2)}, MAPE ${m.mape === undefined ? '—' : `${(m.mape * 100).toFixed(2)} %`}`
        : `held out: accuracy ${fmt(m.accuracy)}, macro F1 ${fmt(m.macro_f1)}, weighted F1 ${fmt(m.weighted_f1)}, log loss ${fmt(m.log_loss)}`,
      `policy: ${describePolicy(trained.policy)}`,
      ...outcomeLines(o, gates, registered, promoted, refusal),
    ].join('\n'),
  );
  reportFailedGates(o, gates, refusal);
}

/** What a regression or multiclass fit is called: --algo logreg and linear are one flag for two models. */
const kindAlgoName = (algo: Algorithm, task: string) => (algo === 'gbdt' ? 'gbdt' : task === 'regression' ? 'ridge regression' : 'multinomial logistic regression');

/** How the fit went: boosting rounds, Newton steps, or (ridge) one solve. */
const fitSteps = (algo: Algorithm, task: string, rounds: number | undefined) =>
  algo === 'gbdt' ? `${rounds ?? '—'} rounds` : task === 'regression' ? 'solved in closed form' : `${rounds ?? '—'} Newton steps`;

interface TrainGate {
  gate: string;
  metric: string;
  threshold: number;
  value: number | null;
  passed: boolean;
}

/** The --json report's last fields, for every task. */
const outcomeFields = (warnings: string[], leaking: LeakingColumn[], registered: { model: string; version: number; unchanged?: true } | undefined, promoted: boolean) => ({
  warnings,
  ...(leaking.length ? { leaking_columns: leaking } : {}),
  registered: registered ?? null,
  promoted,
});

/** The summary's last lines: each gate, then whether (and as what) the model was registered. */
function outcomeLines(o: TrainFlags, gates: TrainGate[], registered: { model: string; version: number; unchanged?: true } | undefined, promoted: boolean, refusal?: string): string[] {
  return [
    ...gates.map((g) => `gate ${g.gate}: ${g.passed ? 'passed' : 'FAILED'} (${g.metric} ${g.value === null ? '—' : g.value.toFixed(4)} vs ${g.threshold})`),
    registered?.unchanged
      ? `unchanged: ${registered.model} version ${registered.version} is this training already; nothing registered${promoted ? '; it is production' : ''}`
      : registered
        ? `registered ${registered.model} version ${registered.version}${promoted ? ', promoted to production' : `; next: modelgate promote --model ${registered.model} --version ${registered.version}`}`
        : o.register
          ? `not registered: ${refusal && gates.every((g) => g.passed) ? 'a column gives the target away (below)' : 'a gate failed'}`
          : 'not registered (add --register)',
  ];
}

/**
 * Columns that alone give the target on the held-out rows, said before training. With
 * --register they stop the registration: serving will most often not have such a column when
 * it decides, so the version would score its requests as missing values and promise held-out
 * metrics it cannot keep. --include names one that serving does have.
 */
function leakCheck(o: TrainFlags, split: { train: Dataset; test: Dataset }): { leak?: string; leaking: LeakingColumn[]; refusal?: string } {
  const kept = new Set(list(o.include) ?? []);
  const leaking = leakingColumns(split).filter((c) => !kept.has(c.column));
  const leak = leakageWarning(leaking, o.target);
  if (!leak) return { leaking };
  progress(`  warning: ${leak}`);
  const names = leaking.map((c) => c.column);
  const it = names.length === 1 ? 'it' : 'them';
  const refusal = o.register
    ? `${names.join(', ')} give${names.length === 1 ? 's' : ''} ${o.target} away on the held-out rows; leave ${it} out with --exclude ${names.join(',')}, or, if serving has ${it} when it decides, keep ${it} with --include ${names.join(',')}`
    : undefined;
  return { leak, leaking, ...(refusal ? { refusal } : {}) };
}

/**
 * The report is the output (JSON too); with a failed gate the exit code and one line on stderr
 * say which, and by how much (below a min_ gate, above a max_ gate).
 */
function reportFailedGates(o: TrainFlags, gates: TrainGate[], refusal?: string): void {
  if (refusal) {
    progress(`error: ${refusal}; nothing was registered`);
    process.exitCode = 1;
  }
  const failed = gates.filter((g) => !g.passed);
  if (!failed.length) return;
  const by = (g: TrainGate, value: number) => (g.gate.startsWith('max_') ? `${(value - g.threshold).toFixed(4)} above it` : `${(g.threshold - value).toFixed(4)} below it`);
  progress(
    `error: ${failed.map((g) => `gate --${g.gate.replace('_', '-')} ${g.threshold} failed: ${g.metric} ${g.value === null ? 'could not be computed' : `${g.value.toFixed(4)} is ${by(g, g.value)}`}`).join('; ')}${o.register ? '; nothing was registered' : ''}`,
  );
  process.exitCode = 1;
}

function splitOf(o: TrainFlags, ingested: Ingested, testFraction: number, seed: number): Split {
  const opts = { groupCopies: o.groupCopies === true };
  const split =
    o.split === 'time'
      ? timeSplit(ingested.data, ingested.order!, testFraction)
      : o.split === 'index'
        ? indexSplit(ingested.data, testFraction, opts)
        : randomSplit(ingested.data, testFraction, seed, opts);
  const line = timeSplitLine(split);
  if (line) progress(`  ${line}`);
  return split;
}

/** Held-out rows with an exact copy in training, past this share of them, are warned of. */
const COPIES_WARNED = 0.05;

/**
 * What the split did with rows that repeat another exactly (every column used, the target too):
 * kept together (a note), or held out beside a copy the model trains on (a warning, past 5 % of
 * the held-out rows: the held-out figures then partly measure memory, if the copies are one event
 * recorded more than once; rows that only look alike are distinct events, and the split is right).
 */
function copiesLine(split: Split): string | undefined {
  const copies = split.copies ?? 0;
  if (!copies) return undefined;
  const rows = (n: number) => `${n.toLocaleString('en-US')} row${n > 1 ? 's' : ''}`;
  if (split.groupCopies)
    return `note: ${rows(copies)} repeat${copies > 1 ? '' : 's'} an earlier row exactly (every column used, the target too): each is on the side of the split of the row it copies (--group-copies)`;
  const warning = copiesWarning(split)[0];
  return warning ? `warning: ${warning}` : undefined;
}

function copiesWarning(split: Split): string[] {
  const held = split.heldOutWithCopy ?? 0;
  // Out of time, a later row like an earlier one is what the model will meet: nothing to warn of.
  if (split.groupCopies || split.time || held < COPIES_WARNED * split.test.rows) return [];
  return [
    `${held.toLocaleString('en-US')} of the ${split.test.rows.toLocaleString('en-US')} held-out rows (${((100 * held) / split.test.rows).toFixed(0)} %) have an exact copy (every column used, the target too) among the training rows: if copies are one event recorded more than once (a group booking, a row exported twice), the held-out figures partly measure memory and flatter the model; --group-copies keeps each row and its copies on one side of the split`,
  ];
}

/** The run record every trained version keeps: what retrain repeats (the data, columns, split, target and gates). */
function runRecord(o: TrainFlags, ingested: Ingested, opts: { testFraction: number; seed: number; split: Split }, gates: { gate: string; threshold: number }[]) {
  const { split } = opts;
  return {
    dataset: { file: o.data, sha256: ingested.sha256, rows_read: ingested.rowsRead, rows_without_label: ingested.droppedNoLabel, rows_with_bad_target: ingested.droppedBadTarget },
    columns: ingested.columns.map((c) => ({ name: c.name, role: c.role, ...(c.note ? { note: c.note } : {}) })),
    // copies: rows repeating an earlier row; held_out_with_copy: held-out rows with a copy in training.
    split: {
      kind: o.split,
      test_fraction: opts.testFraction,
      ...(o.split === 'random' ? { seed: opts.seed } : {}),
      ...timeSplitRecord(split),
      ...(split.groupCopies ? { group_copies: true } : {}),
      copies: split.copies ?? 0,
      held_out_with_copy: split.heldOutWithCopy ?? 0,
    },
    target: o.target,
    gates: Object.fromEntries(gates.map((g) => [g.gate, g.threshold])),
    ...(ingested.classLabels ? { class_labels: ingested.classLabels } : {}),
  };
}

/** With --register and every gate passed: register the trained model (and promote it with --promote). */
async function registerIfPassed(
  ctx: Context,
  o: TrainFlags,
  gates: { passed: boolean }[],
  t: { onnx: Uint8Array; policy: Policy; task: TrainingTask; run: { run_id: string; class_labels?: [string, string] }; reference: ReferenceProfile; sha256: string; description: string },
): Promise<{ registered: { model: string; version: number; unchanged?: true } | undefined; promoted: boolean; warnings: string[] }> {
  if (!o.register || gates.some((g) => !g.passed)) return { registered: undefined, promoted: false, warnings: [] };
  const same = await latestIfSameTraining(ctx, o.model, t.onnx, t.policy, t.sha256);
  if (same !== undefined && o.ifChanged) {
    progress(`[3/3] version ${same} of ${o.model} is this training already (the same graph, policy and data): nothing registered`);
    const warnings = o.promote ? await promoteRegistered(ctx, o.model, same) : [];
    return { registered: { model: o.model, version: same, unchanged: true }, promoted: !!o.promote, warnings };
  }
  progress(`[3/3] registering ${o.model}`);
  if (same !== undefined) progress(`note: the same graph, policy and data as version ${same}, registered again (--if-changed keeps version ${same} instead)`);
  const r = await ctx.registry.register({
    model: o.model,
    onnx: t.onnx,
    task: t.task,
    // Serving reads text cells as the trainer did (a missing category is '', categories trimmed).
    manifest: {
      ...TRAINED_CELL_READING,
      metrics: (t.run as { metrics?: Record<string, number> }).metrics,
      training: t.run,
      run_id: t.run.run_id,
      dataset_sha256: t.sha256,
      reference: t.reference,
      description: t.description,
      // train --positive: the graph names no classes, so the manifest does (feedback and evaluate take them).
      ...(t.run.class_labels ? { class_labels: t.run.class_labels } : {}),
    },
    policy: t.policy,
    actor: cliActor(),
  });
  let warnings: string[] = [];
  if (o.promote) warnings = await promoteRegistered(ctx, o.model, r.version);
  else await warnIfUnlikeProduction(ctx, o.model, r.version);
  return { registered: { model: r.model, version: r.version }, promoted: !!o.promote, warnings };
}

/**
 * The latest version when it is this training again: training is seeded, so the same data and
 * settings make the same graph, byte for byte; with the same policy nothing would differ but
 * its number.
 */
async function latestIfSameTraining(ctx: Context, model: string, onnx: Uint8Array, policy: Policy, dataSha256: string): Promise<number | undefined> {
  const m = await ctx.registry.getModel(model).catch((e: unknown) => {
    if (e instanceof AppError && e.code === 'MODEL_NOT_FOUND') return undefined;
    throw e;
  });
  const latest = m?.versions.at(-1);
  if (!latest || latest.status !== 'active' || latest.onnx_sha256 !== sha256(onnx)) return undefined;
  const v = await ctx.registry.getVersion(model, latest.version);
  return v.manifest.dataset_sha256 === dataSha256 && canonicalJson(v.manifest.policy) === canonicalJson(policy) ? latest.version : undefined;
}
