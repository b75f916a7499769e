import { promoteRegistered, warnIfUnlikeProduction } from './decisions-warning.js';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError, errorMessage } from '../lib/errors.js';
import { assertInputFile } from '../lib/user-paths.js';
import { MAIN_METRIC_WORDS } from '../lib/main-metric.js';
import { describePolicy, parsePolicyFlag, taskOf, TASKS, type Task } from '../inference/index.js';
import { profileReferenceFile } from '../monitoring/index.js';
import { registrationSummary, type Manifest, type RegistryService } from '../registry/index.js';
import type { Rollout } from '../rollout/index.js';
import { cliActor, cliConfig, parseVersion, withContext } from './context.js';
import { byteSize, emit, fail, progress, table, type OutputOptions } from './output.js';
import { migrate, openDb, pendingMigrations, type DbLocation } from '../db/index.js';
import { refuseFlagConflicts, registerOverHttp, type RegisterFlags } from './register-remote.js';
import { redactUrl } from '../lib/redact-url.js';
import { explainDbError } from '../server/context.js';

/**
 * A file's bytes, or with `-` what is piped in: `kubectl exec -i deploy/modelgate -- modelgate
 * register --onnx - < churn.onnx` registers a graph the pod has no copy of.
 */
async function readInput(file: string, what: string, flag: string): Promise<Buffer> {
  if (file === '-') return readStdin(what, flag);
  assertInputFile(file, `give the path of the ${what}, or - to pipe it in`);
  try {
    return await readFile(file);
  } catch (e) {
    throw new AppError('BAD_REQUEST', `cannot read ${what} ${file}: ${errorMessage(e)}`);
  }
}

async function readStdin(what: string, flag: string): Promise<Buffer> {
  if (process.stdin.isTTY) throw new AppError('BAD_REQUEST', `${flag} - reads the ${what} from stdin, which is this terminal: pipe the file in (${flag} - < file), or give its path`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  if (!bytes.length) throw new AppError('BAD_REQUEST', `${flag} -: nothing came on stdin; pipe the ${what} in (${flag} - < file), or give its path`);
  return bytes;
}

/** Score the reference CSV through the model being registered and profile it, saying how it went. */
async function profileReference(prep: ReturnType<RegistryService['prepare']>, onnx: Uint8Array, model: string, file: string, target: string | undefined, allowSkipped: boolean) {
  progress(`profiling reference data ${file}…`);
  const r = await profileReferenceFile(prep, onnx, model, file, {
    target,
    allowSkipped,
    subject: `--reference ${file}`,
    onProgress: (n) => n % 10240 === 0 && progress(`  ${n.toLocaleString('en')} rows scored…`),
  });
  for (const note of r.notes) progress(`  ${note}`);
  progress(`  ${r.rows.toLocaleString('en')} rows profiled`);
  return r;
}

/** What the reference's outcomes said of the model (with --target), in a few words: what monitoring compares live outcomes with. */
function referenceOutcomes(reference: { metrics?: Record<string, number> }, target: string | undefined): string {
  const m = reference.metrics;
  if (!m || !target) return '';
  const shown = (['roc_auc', 'accuracy', 'macro_f1', 'mae', 'r2'] as const)
    .filter((k) => Number.isFinite(m[k]))
    .map((k) => `${{ roc_auc: 'ROC AUC', accuracy: 'accuracy', macro_f1: 'macro F1', mae: 'MAE', r2: 'R²' }[k]} ${m[k].toFixed(4)}`);
  return shown.length ? `; against ${target}: ${shown.join(', ')} (monitoring compares live outcomes with these)` : '';
}

function parseTask(text: string): Task {
  if (!(TASKS as readonly string[]).includes(text)) throw new AppError('BAD_REQUEST', `--task ${JSON.stringify(text)}: expected one of ${TASKS.join(', ')}`);
  return text as Task;
}

/** What the version predicts and which output it reads, in one line. */
export function describeTask(m: Pick<Manifest, 'contract' | 'output'>): string {
  const task = taskOf(m.contract);
  const out = `${m.output.name}${m.output.source === 'zipmap' ? ` (from ZipMap ${m.output.zipmap_output})` : ''}`;
  if (task === 'multiclass') return `multiclass, ${m.output.class_labels?.length} classes (${(m.output.class_labels ?? []).map((c) => JSON.stringify(c)).join(', ')}) from ${out}`;
  if (task === 'regression') return `regression, the value is column ${m.output.positive_index} of ${out}`;
  return `binary, the score is column ${m.output.positive_index} of ${out}${m.output.class_labels ? ` (class ${JSON.stringify(m.output.class_labels[m.output.positive_index])})` : ''}`;
}

/** What `register` prints (and `POST /v1/models/:name/versions` answers) for a registration. */
type Registered = {
  model: string;
  version: number;
  onnx_sha256: string;
  manifest_sha256: string;
  promoted: boolean;
  warnings: string[];
} & (
  | { unchanged: true }
  | {
      unchanged?: false;
      contract: Manifest['contract'];
      output: Manifest['output'];
      policy: Manifest['policy'];
      reference: { rows: number; skipped: number; metrics?: Record<string, number> } | null;
      same_as: number | null;
      repaired_artifact: boolean;
    }
);

/** The words for a registration, from what `--json` prints: the same whether it was made here or by a server. */
function registeredText(r: Registered, target: string | undefined): string {
  const next = r.promoted ? `${r.model} version ${r.version} is production (undo with modelgate rollback --model ${r.model})` : `next: modelgate promote --model ${r.model} --version ${r.version}`;
  if (r.unchanged) return [`${r.model}: unchanged; version ${r.version} is this graph with these settings, nothing registered`, next].join('\n');
  const c = r.contract;
  return [
    `registered ${r.model} version ${r.version}`,
    `  sha256    ${r.onnx_sha256}`,
    `  features  ${c.features.length} (${c.layout}): ${c.features.map((f) => `${f.name}:${f.type}`).join(', ')}`,
    `  task      ${describeTask(r)}`,
    ...(c.features.some((f) => f.type === 'string')
      ? [
          `  missing   ${c.missing_category === undefined ? 'a missing string feature is refused (400); --missing-category VALUE maps it' : `a missing string feature becomes ${JSON.stringify(c.missing_category)}`}`,
          ...(c.cell_reading === 'train' ? ['  reading   as train read its CSV: strings trimmed; NA, NULL, ? … missing'] : []),
        ]
      : []),
    `  policy    ${describePolicy(r.policy)}`,
    `  reference ${r.reference ? `${r.reference.rows} rows profiled${r.reference.skipped ? `, ${r.reference.skipped} skipped` : ''}${referenceOutcomes(r.reference, target)}` : 'none (drift monitoring needs --reference CSV)'}`,
    ...(r.same_as ? [`note: the same graph and settings as version ${r.same_as}, registered again (--if-changed keeps version ${r.same_as} instead)`] : []),
    ...(r.repaired_artifact
      ? ['note: the stored copy of this graph was corrupt and is now rewritten from this file: versions that share it load again (servers retry on their own; modelgate verify checks)']
      : []),
    next,
  ].join('\n');
}

/** `register --server`: the registration made by a running server, printed as one made here is. */
async function registerThroughServer(o: OutputOptions & RegisterFlags & { server: string }): Promise<void> {
  try {
    progress(`sending ${o.onnx === '-' ? 'the graph from stdin' : o.onnx} to ${redactUrl(o.server)} as ${o.model}: the server checks the graph and runs a smoke inference…`);
    const r = await registerOverHttp(o, readInput);
    // What the server noticed goes to stderr, as the same notes and warnings do when registering here.
    for (const n of r.notes ?? []) progress(`note: ${n}`);
    for (const w of r.warnings ?? []) progress(`warning: ${w}`);
    emit(o, r, () => registeredText(r as unknown as Registered, o.target));
  } catch (e) {
    fail(o, e);
  }
}

export function registerRegistryCommands(program: Command): void {
  program
    .command('register')
    .description('Register an ONNX model as the next version of a model (content-addressed, immutable)')
    .requiredOption('--model <name>', 'model name, e.g. telco-churn')
    .requiredOption('--onnx <file>', 'ONNX file (scikit-learn, XGBoost, LightGBM export); - reads it from stdin')
    .option('--manifest <file>', '(- reads it from stdin) JSON with feature_names, policy, metrics, description, positive_class, class_labels, output, task')
    .option('--task <task>', 'binary, multiclass or regression (default: read from the graph: class probabilities are binary or multiclass, one float value output is regression)')
    .option(
      '--policy <spec>',
      'decision policy. binary: threshold=0.5 | threshold=0.4:block:allow | bands=allow:0.3,review:0.7,block; regression: value | bands=low:5000,mid:20000,high; multiclass: label | min_probability=0.6:review | class_map=A:act,*:none',
    )
    .option('--feature-names <names>', 'comma-separated column names for a single [N,F] input')
    .option('--reference <csv>', 'reference data (e.g. the training set): profiled and scored through the model, for drift monitoring')
    .option('--target <column>', "label column of the --reference CSV (0/1, yes/no, true/false, or a binary model's class labels): adds positive rate and AUC to the profile")
    .option('--allow-skipped', 'profile the --reference rows that can be scored even when some cannot (counted by reason); without it such a file is refused')
    .option('--positive-class <class>', 'binary: the class whose probability is the score, by its label, e.g. fraud (default: the second of two classes; the register summary names it)')
    .option('--missing-category <value>', "what a missing (null or absent) string feature becomes: the constant the pipeline imputes, e.g. missing (modelgate's trainer sets '')")
    .option('--if-changed', 'register only if the graph or its settings differ from the latest version; otherwise print that version (for deploy jobs that may run twice)')
    .option('--promote', 'then make it production (with --if-changed, the unchanged version it names): register and promote in one step')
    .option(
      '--server <url>',
      "send it to a running server's POST /v1/models/:name/versions instead of the database, signed in with MODELGATE_TOKEN (an admin key): for a deploy job without database credentials",
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExample:\n  modelgate register --model churn --onnx churn.onnx --if-changed --promote --json\n  modelgate register --model telco-churn --onnx churn.onnx --policy threshold=0.4 --reference train.csv --target Churn\n  modelgate register --model fraud --onnx xgb.onnx --feature-names amount,age,tenure --json\n  modelgate register --model car-price --onnx price.onnx --policy bands=low:5000,mid:20000,high\n  modelgate register --model geography --onnx geo.onnx --policy min_probability=0.6:review\n  modelgate register --model fraud --onnx fraud.onnx --positive-class fraud --policy threshold=0.3\n  kubectl exec -i deploy/modelgate -- modelgate register --model churn --onnx - < churn.onnx\n\nThe same through a running server, with an admin key and no database credentials (POST /v1/models/:name/versions):\n  MODELGATE_TOKEN=mg_… modelgate register --server https://modelgate.internal --model churn --onnx churn.onnx --if-changed --promote\n  curl -H "Authorization: Bearer $TOKEN" -F onnx=@churn.onnx -F policy=threshold=0.4 -F reference=@train.csv -F target=Churn $MG/v1/models/churn/versions',
    )
    .action(async (o: OutputOptions & RegisterFlags & { server?: string }) =>
      o.server !== undefined
        ? registerThroughServer({ ...o, server: o.server })
        : withContext(o, async (ctx) => {
            refuseFlagConflicts(o);
            const onnx = await readInput(o.onnx, 'ONNX file', '--onnx');
            let manifest: unknown;
            if (o.manifest) {
              const text = (await readInput(o.manifest, 'manifest', '--manifest')).toString('utf8');
              try {
                manifest = JSON.parse(text);
              } catch (e) {
                throw new AppError('BAD_REQUEST', `manifest ${o.manifest} is not valid JSON: ${errorMessage(e)}`);
              }
            }
            const input = {
              model: o.model,
              onnx,
              manifest,
              policy: o.policy ? parsePolicyFlag(o.policy) : undefined,
              featureNames: o.featureNames
                ?.split(',')
                .map((s) => s.trim())
                .filter(Boolean),
              missingCategory: o.missingCategory,
              positiveClass: o.positiveClass,
              task: o.task === undefined ? undefined : parseTask(o.task),
            };
            let profiled: Awaited<ReturnType<typeof profileReference>> | undefined;
            if (o.reference) {
              const prepared = ctx.registry.prepare(input);
              await ctx.registry.checkTask(o.model, taskOf(prepared.contract));
              profiled = await profileReference(prepared, onnx, o.model, o.reference, o.target, o.allowSkipped ?? false);
              input.manifest = { ...((manifest as Record<string, unknown> | undefined) ?? {}), reference: profiled.reference };
            }
            progress(`registering ${o.onnx === '-' ? 'the graph from stdin' : o.onnx} (${onnx.length} bytes) as ${o.model}: checking the graph and running a smoke inference…`);
            const r = await ctx.registry.register({ ...input, ifChanged: o.ifChanged, actor: cliActor() });
            const promote = async (version: number) => (o.promote ? { promoted: true, warnings: await promoteRegistered(ctx, r.model, version) } : { promoted: false, warnings: [] });
            if ('unchanged' in r) {
              const result: Registered = { model: r.model, version: r.version, unchanged: true, onnx_sha256: r.onnx_sha256, manifest_sha256: r.manifest_sha256, ...(await promote(r.version)) };
              return emit(o, result, () => registeredText(result, o.target));
            }
            if (!o.promote) await warnIfUnlikeProduction(ctx, r.model, r.version);
            const result: Registered = { ...registrationSummary(r, profiled), ...(await promote(r.version)) };
            emit(o, result, () => registeredText(result, o.target));
          }),
    );

  program
    .command('models [name]')
    .description('List models, or show one model with its versions and aliases')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate models\n  modelgate models telco-churn --json')
    .action(async (name: string | undefined, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        if (!name) {
          const [listed, rollouts] = await Promise.all([ctx.registry.listModels(), ctx.rollouts.list()]);
          const running = new Map(rollouts.map((r) => [r.model, r]));
          const models = listed.map((m) => ({ ...m, ...besideProduction(running.get(m.name)) }));
          emit(o, { models, total: models.length }, () =>
            models.length === 0
              ? 'no models registered yet: modelgate register --model NAME --onnx FILE'
              : table(
                  models.map((m) => ({
                    ...m,
                    aliases: Object.entries(m.aliases)
                      .map(([a, v]) => `${a}=${v}`)
                      .join(' '),
                    // A production version no server has loaded yet (say, just after a restore) has no engine on record.
                    engine: m.production_engine?.engine ?? (m.aliases.production !== undefined ? 'not loaded yet' : ''),
                    rollout: rolloutWords(m),
                  })),
                  ['name', 'task', 'latest_version', 'version_count', 'aliases', 'rollout', 'engine', 'created_at'],
                ),
          );
          return;
        }
        const [found, rollouts] = await Promise.all([ctx.registry.getModel(name), ctx.rollouts.list()]);
        const m = { ...found, ...besideProduction(rollouts.find((r) => r.model === found.name)) };
        // The model's own description is what its first version brought; what serves is what an operator asks about.
        const production = m.versions.find((v) => v.version === m.aliases.production);
        const headline = production?.description ? `production v${production.version}: ${production.description}` : m.description;
        const rollout = rolloutWords(m);
        emit(o, m, () =>
          [
            `${m.name}${headline ? ` — ${headline}` : ''}`,
            `aliases: ${
              Object.entries(m.aliases)
                .map(([a, v]) => {
                  const to = m.rollback_to[a];
                  if (typeof to !== 'number') return `${a}=${v}`;
                  // A rollback to an archived version is refused until it is marked active again.
                  const archived = m.versions.some((x) => x.version === to && x.status === 'archived');
                  return `${a}=${v} (rollback → ${to}${archived ? ', archived' : ''})`;
                })
                .join(' ') || '(none)'
            }`,
            // A version taking live traffic beside production is what an operator opening the model must not miss.
            ...(rollout ? [`rollout: ${rollout} (modelgate canary status --model ${m.name})`] : []),
            '',
            table(
              m.versions.map((v) => ({
                ...v,
                aliases: v.aliases.join(','),
                // What its policy decides, so a version unlike production is seen before it is promoted.
                decides: v.decisions ? (v.decisions.length > 4 ? `${v.decisions.slice(0, 3).join(',')},…(${v.decisions.length})` : v.decisions.join(',')) : '(classes)',
                sha256: v.onnx_sha256.slice(0, 12),
                engine: v.engine?.engine ?? 'not loaded yet',
                memory: v.engine ? byteSize(v.engine.memory_bytes) : '',
                // Held out in training: versions compared at a glance (promote, canary) without --json.
                held_out: v.held_out ? `${MAIN_METRIC_WORDS[v.held_out.metric]} ${v.held_out.value.toFixed(4)}` : '—',
              })),
              ['version', 'status', 'task', 'aliases', 'decides', 'held_out', 'engine', 'memory', 'sha256', 'created_at', 'created_by'],
            ),
            // Why a version is not compiled, when it is not: an operator, attribute or difference to fix or report.
            ...m.versions.flatMap((v) => (v.engine?.reason ? [`  v${v.version} on onnxruntime: ${v.engine.reason}`] : [])),
            ...(m.versions.some((v) => v.description) ? ['', ...m.versions.map((v) => `  v${v.version}  ${v.description ?? '(no description)'}`)] : []),
          ].join('\n'),
        );
      }),
    );

  program
    .command('promote')
    .description('Point production (or a blue/green slot) at a version, activate a slot, or archive a version')
    .requiredOption('--model <name>', 'model name')
    .option('--version <n>', 'version to promote')
    .option('--run-id <run>', 'the version registered from this training run (the run id train prints), instead of --version')
    .option('--slot <slot>', 'a slot alias such as blue or green instead of production')
    .option('--activate', 'with --slot: point production at the slot')
    .option('--to <target>', 'production (default), archived, or active (un-archive)')
    .option('--from-version <n>', 'only if the alias is at this version now (a pipeline does not undo a promotion made meanwhile)')
    .option('--slot-version <n>', 'with --activate: only if the slot holds this version now (production gets the version you checked)')
    .option('--force', 'while a canary of this alias runs: stop it first (recorded with --reason) instead of refusing')
    .option('--reason <text>', 'why; kept with a forced canary stop')
    .option('--accept-new-inputs', "move the alias even to a version that takes none of its version's features (refused otherwise: a graph under the wrong model name, almost always)")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate promote --model churn --version 3\n  modelgate promote --model churn --version 4 --from-version 3\n  modelgate promote --model churn --run-id 2f9c1e7a --slot blue\n  modelgate promote --model churn --slot green --version 4\n  modelgate promote --model churn --slot green --activate --slot-version 4\n  modelgate promote --model churn --version 1 --to archived\n  modelgate promote --model churn --version 2 --force --reason "hotfix"',
    )
    .action(
      async (
        o: OutputOptions & {
          model: string;
          version?: string;
          runId?: string;
          slot?: string;
          activate?: boolean;
          to?: string;
          fromVersion?: string;
          slotVersion?: string;
          force?: boolean;
          reason?: string;
          acceptNewInputs?: boolean;
        },
      ) =>
        withContext(o, async (ctx) => {
          if (o.slot && o.to) throw new AppError('BAD_REQUEST', 'give either --slot or --to, not both');
          if (o.version && o.runId) throw new AppError('BAD_REQUEST', 'give either --version or --run-id, not both');
          if (o.fromVersion && (o.to === 'archived' || o.to === 'active')) throw new AppError('BAD_REQUEST', `--from-version guards an alias move; --to ${o.to} moves no alias`);
          const version = o.runId ? await ctx.registry.versionOfRun(o.model, o.runId) : parseVersion(o.version);
          const target = o.slot ?? o.to ?? 'production';
          const r = await ctx.registry.promote({
            model: o.model,
            target,
            version,
            expectPrevious: parseVersion(o.fromVersion, '--from-version'),
            expectSlot: parseVersion(o.slotVersion, '--slot-version'),
            activate: o.activate,
            force: o.force,
            reason: o.reason,
            acceptNewInputs: o.acceptNewInputs,
            actor: cliActor(),
          });
          if ('warnings' in r) for (const w of r.warnings ?? []) progress(`warning: ${w}`);
          emit(o, r, () =>
            'status' in r
              ? `${r.model} version ${r.version} is ${r.changed ? 'now' : 'already'} ${r.status}${r.changed ? '' : '; nothing changed'}`
              : r.changed === false
                ? `${r.model}: ${r.alias} is version ${r.version} already; nothing changed`
                : `${r.model}: ${r.alias} → version ${r.version}${r.previous_version ? ` (was ${r.previous_version}; undo with modelgate rollback --model ${r.model}${r.alias === 'production' ? '' : ` --slot ${r.alias}`})` : ''}`,
          );
        }),
    );

  program
    .command('rollback')
    .description("Restore an alias's previous version (production unless --slot)")
    .requiredOption('--model <name>', 'model name')
    .option('--slot <slot>', 'roll back a slot alias instead of production')
    .option('--version <n>', 'only if the alias is at this version now (a guard against rolling back twice)')
    .option('--run-id <run>', 'only if the alias is at the version of this training run now')
    .option('--force', 'while a canary of this alias runs: stop it first (recorded with --reason) instead of refusing')
    .option('--reason <text>', 'why; kept with a forced canary stop')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate rollback --model churn\n  modelgate rollback --model churn --run-id 2f9c1e7a\n  modelgate rollback --model churn --slot green --json')
    .action(async (o: OutputOptions & { model: string; slot?: string; version?: string; runId?: string; force?: boolean; reason?: string }) =>
      withContext(o, async (ctx) => {
        if (o.version && o.runId) throw new AppError('BAD_REQUEST', 'give either --version or --run-id, not both');
        const expect = o.runId ? await ctx.registry.versionOfRun(o.model, o.runId) : parseVersion(o.version);
        const r = await ctx.registry.rollback({ model: o.model, slot: o.slot, expectVersion: expect, force: o.force, reason: o.reason, actor: cliActor() });
        emit(o, r, () => `${r.model}: ${r.alias} rolled back from version ${r.rolled_back_from} to ${r.version}`);
      }),
    );

  program
    .command('verify')
    .description('Re-check every stored artifact and manifest (sha256, contract version); exits 1 on any failure')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate verify\n  modelgate verify --json | jq .failed')
    .action(async (o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const results = await ctx.registry.verify((r, i, n) => {
          if (!o.json) progress(`[${i}/${n}] ${r.model} v${r.version}: ${r.ok ? 'ok' : 'FAILED'}`);
        });
        const failed = results.filter((r) => !r.ok);
        emit(o, { checked: results.length, failed: failed.length, results }, () =>
          failed.length === 0
            ? `all ${results.length} versions verified`
            : `${failed.length} of ${results.length} versions failed verification:\n${failed.map((f) => `  ${f.model} v${f.version}:\n${f.problems.map((p) => `    - ${p}`).join('\n')}`).join('\n')}`,
        );
        if (failed.length) process.exitCode = 1;
      }),
    );

  program
    .command('migrate')
    .description('Apply database migrations (servers also do this at start)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/modelgate modelgate migrate --json')
    .action(async (o: OutputOptions) => {
      let loc: DbLocation | undefined;
      try {
        loc = cliConfig().database;
        const db = await openDb(loc);
        try {
          const pending = await pendingMigrations(db);
          if (pending.length) progress(`applying ${pending.length} migration(s) to ${db.describe}…`);
          const { newer = [] } = await migrate(db);
          emit(o, { database: db.describe, applied: pending, pending: await pendingMigrations(db), newer }, () =>
            newer.length
              ? `${db.describe} was migrated by a newer modelgate (${newer.join(', ')}); nothing to apply: this release uses it as it is`
              : pending.length
                ? `applied ${pending.join(', ')} to ${db.describe}`
                : `${db.describe} is up to date`,
          );
        } finally {
          await db.close();
        }
      } catch (e) {
        // Said as every other command says it: where, why and what to do.
        fail(o, loc ? explainDbError(e, loc, loc.kind === 'sqlite' ? `sqlite:${loc.file}` : redactUrl(loc.url)) : e);
      }
    });
}

interface BesideProduction {
  canary: { version: number; percent: number } | null;
  shadow: { version: number; percent: number } | null;
}

/** What runs beside production, as the console's models page shows it. */
function besideProduction(r: Rollout | undefined): BesideProduction {
  return {
    canary: r?.canary_version != null ? { version: r.canary_version, percent: r.canary_percent } : null,
    shadow: r?.shadow_version != null ? { version: r.shadow_version, percent: r.shadow_percent } : null,
  };
}

function rolloutWords(m: BesideProduction): string {
  return [m.canary && `canary v${m.canary.version} at ${m.canary.percent}%`, m.shadow && `shadow v${m.shadow.version} at ${m.shadow.percent}%`].filter(Boolean).join(', ');
}
