import type { Clock } from '../lib/clock.js';
import { ALIAS_NAME, RESERVED_TARGETS } from './alias-name.js';
import { AppError, errorMessage, modelNotFound } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import {
  deriveContract,
  withClosedCategories,
  inspectGraph,
  checkPolicy,
  defaultPolicy,
  contractChange,
  decisionsDiffer,
  describeContractChange,
  refuseTakingNone,
  describePolicy,
  policyDecisions,
  taskOf,
  positiveClassOf,
  SUPPORTED_CONTRACT_VERSIONS,
  type Policy,
  type Task,
  type EngineInfo,
  type RegistrySource,
  type ServableSpec,
} from '../inference/index.js';
import type { EmitEvent } from '../webhooks/index.js';
import { referenceSchema, type ReferenceProfile } from './reference.js';
import { actionRateChange } from './action-rate.js';
import { z } from 'zod';
import { sha256, type ArtifactStore } from './artifacts/index.js';
import { canonicalJson, manifestInputSchema, manifestSchema, MANIFEST_FORMAT, type Manifest, type ManifestInput } from './manifest.js';
import type { EngineCheck, RegistryStore, VersionRow } from './store.js';
import { MAIN_METRIC, type MainMetric } from '../lib/main-metric.js';
import { policyFreeMetrics } from './policy-metrics.js';
import type { Transaction } from 'kysely';
import type { Database } from '../db/index.js';

/** The values a version's drift reference holds per feature (bin edges, categories): rows its compiled engine is checked on. */
function samplesOf(reference: ReferenceProfile): Record<string, (number | string)[]> {
  return Object.fromEntries(Object.entries(reference.features).map(([name, p]) => [name, p.type === 'numeric' ? p.edges : p.categories]));
}

/** From a stored manifest's reference, when it has a readable one: samples to check the compiled engine on, and the categories it saw. */
function fromReference(reference: unknown): Pick<ServableSpec, 'samples' | 'seenCategories'> {
  const r = referenceSchema.safeParse(reference);
  if (!r.success) return {};
  const seenCategories = Object.fromEntries(Object.entries(r.data.features).flatMap(([name, p]) => (p.type === 'categorical' ? [[name, [...p.categories, ...(p.more ?? [])]]] : [])));
  return { samples: samplesOf(r.data), seenCategories };
}

const trainingColumns = z.object({
  target: z.string().optional(),
  columns: z.array(z.object({ name: z.string(), role: z.string(), note: z.string().optional() })),
});

/**
 * The column a version was trained to predict, from its manifest's training record: the run
 * record's target, or — in records from before 0.1.0 (2026-12-02), which kept it only among the
 * column roles — the column whose role is target. Undefined for an imported version.
 */
export function trainingTarget(training: unknown): string | undefined {
  const named = (training as { target?: unknown } | null | undefined)?.target;
  if (typeof named === 'string' && named) return named;
  const t = trainingColumns.safeParse(training);
  return t.success ? t.data.columns.find((c) => c.role === 'target')?.name : undefined;
}

/** The training data's columns that are not features (ServableSpec.leftOut and target), from a manifest's training record. */
export function leftOutColumns(training: unknown): Pick<ServableSpec, 'leftOut' | 'target'> {
  const t = trainingColumns.safeParse(training);
  if (!t.success) return {};
  const leftOut = Object.fromEntries(t.data.columns.filter((c) => c.role === 'excluded').map((c) => [c.name, c.note ?? 'left out at training']));
  const target = trainingTarget(training);
  return { ...(Object.keys(leftOut).length ? { leftOut } : {}), ...(target !== undefined ? { target } : {}) };
}

export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface RegisterInput {
  model: string;
  onnx: Uint8Array;
  manifest?: unknown;
  policy?: Policy;
  featureNames?: string[];
  /** What a missing string feature becomes (overrides missing_category in the manifest). */
  missingCategory?: string;
  /** The class whose probability is a binary model's score, by label (--positive-class). */
  positiveClass?: string;
  /** What the model predicts (overrides task in the manifest; default: read from the graph). */
  task?: Task;
  actor: string;
}

export interface PromoteInput {
  model: string;
  /** production, archived, or a slot name such as blue/green. */
  target: string;
  version?: number;
  /** With a slot target and no version: point production at the slot's version. */
  activate?: boolean;
  /** Stop a running canary that this change would contradict (recorded with `reason`). */
  force?: boolean;
  reason?: string;
  /** Set by a canary promotion: the canary it completes must still be this one. */
  expectCanary?: { canary_version: number; step_index: number; canary_revision?: number };
  /** An automatic canary promotion: the analysis it was judged on, kept with the rollout's promote event. */
  evidence?: Record<string, unknown>;
  /** Only if the alias is at this version now (a page that showed it, moving it on). */
  expectPrevious?: number;
  /** With activate: only if the slot holds this version now (the version the operator saw there). */
  expectSlot?: number;
  /** Move the alias even to a version that takes none of its version's features (refuseTakingNone): else 409. */
  acceptNewInputs?: boolean;
  actor: string;
}

/** An alias move or archive about to be written, shown to the guard inside its transaction. */
export interface AliasChange {
  model: string;
  /** The alias that moves; for an archive, the archived version's alias is none. */
  alias: string | null;
  version: number;
  previous: number | null;
  action: 'set' | 'activate' | 'rollback' | 'archive';
  force: boolean;
  reason?: string;
  expectCanary?: PromoteInput['expectCanary'];
  evidence?: PromoteInput['evidence'];
  actor: string;
  at: string;
}

/**
 * Runs inside the transaction of every alias move and archive, so the rollout of the model
 * can refuse a change that contradicts its running canary, or complete or stop the canary in
 * the same commit. Throws to refuse.
 */
export type AliasGuard = (tx: Transaction<Database>, change: AliasChange) => Promise<void>;

export interface RegistryDeps {
  store: RegistryStore;
  artifacts: ArtifactStore;
  clock: Clock;
  log: Logger;
  /** Loads the graph and scores a sample row; rejects models that cannot serve. */
  /** Load and score a neutral row; says which engine the version would serve on. */
  smokeTest: (bytes: Uint8Array, spec: ServableSpec) => Promise<{ score: number; engine: EngineInfo }>;
  maxModelBytes: number;
  /** Webhook outbox, written in the same transaction as each change. */
  emit?: EmitEvent;
  /** The rollout's say on alias changes (canary running); none in tools that have no rollouts. */
  guard?: AliasGuard;
}

export type VerifyResult = { model: string; version: number; ok: boolean; problems: string[] };

/** A model name the registry accepts, or a 400 saying what one looks like. */
function checkName(model: string): void {
  if (!MODEL_NAME.test(model)) {
    throw new AppError('BAD_REQUEST', `invalid model name "${model}": use 1-64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit`, { field: 'model' });
  }
}

/** Validate the input and derive what serving needs (contract, output, policy); nothing is written. */
function prepare(input: Omit<RegisterInput, 'actor'>, maxModelBytes: number) {
  checkName(input.model);
  if (input.onnx.length === 0) throw new AppError('INVALID_MODEL', 'the ONNX file is empty');
  if (input.onnx.length > maxModelBytes) {
    throw new AppError('INVALID_MODEL', `the ONNX file is ${input.onnx.length} bytes, over MAX_MODEL_BYTES=${maxModelBytes}`);
  }
  let extra: ManifestInput = {};
  if (input.manifest !== undefined) {
    const parsed = manifestInputSchema.safeParse(input.manifest);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', `invalid manifest: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    extra = parsed.data;
  }
  const graph = inspectGraph(input.onnx);
  const { contract, output } = deriveContract(graph, {
    featureNames: input.featureNames ?? extra.feature_names,
    outputName: extra.output,
    positiveClass: input.positiveClass ?? extra.positive_class,
    task: input.task ?? extra.task,
    classLabels: extra.class_labels,
  });
  const task = taskOf(contract);
  const policy = input.policy ?? extra.policy ?? defaultPolicy(task);
  checkPolicy(policy, task, output.class_labels);
  const missing = input.missingCategory ?? extra.missing_category;
  // Only a graph with string inputs has categories to fill.
  if (missing !== undefined && contract.features.some((f) => f.type === 'string')) contract.missing_category = missing;
  if (extra.cell_reading !== undefined) contract.cell_reading = extra.cell_reading;
  return { extra, graph, contract, output, policy };
}

/** What is wrong with one stored version: its artifacts readable, its manifest valid and matching the registry row. */
async function storedVersionProblems(artifacts: ArtifactStore, v: Awaited<ReturnType<RegistryStore['allVersions']>>[number]): Promise<string[]> {
  const problems: string[] = [];
  try {
    await artifacts.get(v.onnx_sha256);
  } catch (e) {
    problems.push(`onnx: ${errorMessage(e)}`);
  }
  try {
    const raw = await artifacts.get(v.manifest_sha256);
    const parsed = manifestSchema.safeParse(JSON.parse(Buffer.from(raw).toString('utf8')));
    if (!parsed.success) problems.push(`manifest: does not match the manifest schema (${parsed.error.issues[0]?.message})`);
    else {
      const m = parsed.data;
      if (!SUPPORTED_CONTRACT_VERSIONS.includes(m.contract.contract_version)) {
        problems.push(`manifest: contract version ${m.contract.contract_version} is not supported (supported: ${SUPPORTED_CONTRACT_VERSIONS.join(', ')})`);
      }
      if (m.onnx_sha256 !== v.onnx_sha256) problems.push(`manifest: names onnx ${m.onnx_sha256} but the registry row names ${v.onnx_sha256}`);
      if (m.model !== v.model || m.version !== v.version) problems.push(`manifest: describes ${m.model} v${m.version}`);
      if (canonicalJson(m) !== canonicalJson(v.manifest)) problems.push('manifest: stored artifact differs from the registry copy');
    }
  } catch (e) {
    problems.push(`manifest: ${errorMessage(e)}`);
  }
  return problems;
}

/**
 * Which alias a promotion moves, to which version: the target alias to the given version, or
 * with `activate` production to the version in the target slot.
 */
function aliasMove(input: PromoteInput, aliases: Record<string, number>): { alias: string; version: number; action: 'set' | 'activate' } {
  if (input.activate) {
    if (input.target === 'production') throw new AppError('BAD_REQUEST', 'activate needs a slot target (for example blue): production is pointed at that slot', { field: 'target' });
    if (input.version !== undefined) throw new AppError('BAD_REQUEST', 'give either a version or activate, not both', { field: 'activate' });
    const version = aliases[input.target];
    if (version === undefined) throw new AppError('CONFLICT', `slot ${input.target} of ${input.model} is empty; promote a version to it first`, { slot: input.target });
    if (input.expectSlot !== undefined && version !== input.expectSlot) {
      throw new AppError(
        'CONFLICT',
        `slot ${input.target} of ${input.model} holds version ${version}, not ${input.expectSlot}: it moved since; nothing activated (run modelgate models ${input.model} to see the history)`,
        { slot: input.target, version },
      );
    }
    return { alias: 'production', version, action: 'activate' };
  }
  if (input.version === undefined) throw new AppError('BAD_REQUEST', 'a version is needed (or activate with a slot)', { field: 'version' });
  return { alias: input.target, version: input.version, action: 'set' };
}

/**
 * The version a rollback of an alias now at `current` goes back to, or null when there is none:
 * the event that put the current version in place knows what it replaced, and walking these
 * events back lets repeated rollbacks step through the whole history. `history`: the alias's
 * events, newest first.
 */
function rollbackTarget(history: readonly { version: number | null; previous_version: number | null; action: string }[], current: number): number | null {
  return history.find((e) => e.version === current && e.action !== 'rollback')?.previous_version ?? null;
}

export function createRegistryService(deps: RegistryDeps) {
  const { store, artifacts, clock, log } = deps;

  const requireModel = async (model: string) => {
    const m = await store.getModel(model);
    if (!m) throw modelNotFound(model);
    return m;
  };

  const requireVersion = async (model: string, version: number) => {
    await requireModel(model);
    const v = await store.getVersion(model, version);
    if (!v) throw new AppError('VERSION_NOT_FOUND', `model ${model} has no version ${version}`, { model, version });
    return v;
  };

  /**
   * A model's versions answer in one shape: its clients read `score`, `label` or `value`, and a
   * canary or shadow compares versions answer for answer. A version of another task is another
   * model.
   */
  async function refuseTaskChange(model: string, task: Task, tx?: Parameters<typeof store.latestVersion>[1]) {
    const latest = await store.latestVersion(model, tx);
    if (!latest) return;
    const was = taskOf(latest.manifest.contract);
    if (was === task) return;
    throw new AppError(
      'CONFLICT',
      `model ${model} is a ${was} model (version ${latest.version}), and the new version would be ${task}: a version of another task would change what its clients receive, and a canary or shadow could not compare the two. Register it as a new model, e.g. --model ${model}-${task}`,
      { model, task: was },
    );
  }

  /**
   * The latest version, when it is active and what `manifest` would register again (the same
   * graph, contract, policy, reference and records; only its number and time would differ): a
   * deploy job run twice registers the same file twice.
   */
  async function sameAsLatest(model: string, onnxSha: string, manifestOf: (version: number, at: string) => Manifest) {
    const latest = await store.latestVersion(model);
    if (!latest || latest.status !== 'active' || latest.onnx_sha256 !== onnxSha) return undefined;
    // Read back as the stored one was (the schema's defaults), with its number and time.
    const again = manifestSchema.parse(manifestOf(latest.version, latest.manifest.created_at));
    return canonicalJson(again) === canonicalJson(latest.manifest) ? latest : undefined;
  }

  async function register(input: RegisterInput & { ifChanged?: boolean }) {
    const { extra, graph, contract, output, policy } = prepare(input, deps.maxModelBytes);
    await refuseTaskChange(input.model, taskOf(contract));
    const graphSha = sha256(input.onnx);
    const manifestOf = (version: number, at: string): Manifest => ({
      format: MANIFEST_FORMAT,
      model: input.model,
      version,
      onnx_sha256: graphSha,
      onnx_bytes: input.onnx.length,
      contract,
      output,
      policy,
      graph: { producer: graph.producer, ir_version: graph.irVersion, opsets: graph.opsets },
      ...(extra.description ? { description: extra.description } : {}),
      ...(extra.metrics ? { metrics: extra.metrics } : {}),
      ...(extra.training ? { training: extra.training } : {}),
      ...(extra.dataset_sha256 ? { dataset_sha256: extra.dataset_sha256 } : {}),
      ...(extra.run_id ? { run_id: extra.run_id } : {}),
      reference: extra.reference ?? null,
      created_at: at,
    });
    const same = await sameAsLatest(input.model, graphSha, manifestOf);
    if (same && input.ifChanged) {
      log.info({ model: input.model, version: same.version, actor: input.actor }, 'registration unchanged: the latest version is the same');
      return { model: input.model, version: same.version, onnx_sha256: same.onnx_sha256, manifest_sha256: same.manifest_sha256, manifest: same.manifest, unchanged: true as const };
    }
    // Smoke-test before anything is written, so a model that cannot serve leaves no trace.
    const smoke = await deps.smokeTest(input.onnx, { model: input.model, version: 0, contract, output, policy, ...(extra.reference ? { samples: samplesOf(extra.reference) } : {}) });

    const { sha256: onnxSha, repaired } = await artifacts.put(input.onnx);
    // The same graph registered before, whose stored copy had been damaged: the versions that share it load again.
    if (repaired) log.warn({ model: input.model, onnx_sha256: onnxSha, actor: input.actor }, 'the stored copy of this graph was corrupt; rewritten from the registered bytes');
    const at = clock.now().toISOString();
    for (let attempt = 1; ; attempt++) {
      try {
        return await store.transaction(async (tx) => {
          // Writing first takes the write lock at once (SQLite), so concurrent registrations queue.
          await store.bumpRevision(tx);
          await store.ensureModel(tx, input.model, extra.description ?? null, at);
          const version = await store.nextVersion(tx, input.model);
          // Again inside the transaction: a version of another task may have landed since the check above.
          await refuseTaskChange(input.model, taskOf(contract), tx);
          const manifest = manifestOf(version, at);
          const { sha256: manifestSha } = await artifacts.put(Buffer.from(canonicalJson(manifest)));
          await store.insertVersion(tx, {
            model: input.model,
            version,
            onnx_sha256: onnxSha,
            manifest_sha256: manifestSha,
            contract_version: contract.contract_version,
            size_bytes: input.onnx.length,
            manifest,
            created_at: at,
            created_by: input.actor,
          });
          await store.recordEngine({ model: input.model, version, ...smoke.engine, checked_at: at }, tx);
          await deps.emit?.(tx, 'model.registered', { model: input.model, version, onnx_sha256: onnxSha, manifest_sha256: manifestSha, actor: input.actor }, at);
          log.info({ model: input.model, version, onnx_sha256: onnxSha, actor: input.actor }, 'model version registered');
          return {
            model: input.model,
            version,
            onnx_sha256: onnxSha,
            manifest_sha256: manifestSha,
            manifest,
            ...(same ? { same_as: same.version } : {}),
            ...(repaired ? { repaired_artifact: true as const } : {}),
          };
        });
      } catch (e) {
        // Two registrations raced for the same number; the loser takes the next one.
        if (attempt < 5 && store.isUniqueViolation(e)) continue;
        throw e;
      }
    }
  }

  /** Move an alias, or with target archived/active change a version's status. */
  async function promote(input: PromoteInput) {
    await requireModel(input.model);
    if (input.expectSlot !== undefined && !input.activate) throw new AppError('BAD_REQUEST', 'slot_version guards the activation of a slot; give it with activate', { field: 'slot_version' });
    if (input.target === 'archived' || input.target === 'active') return setStatus(input, input.target);
    if (!ALIAS_NAME.test(input.target) || RESERVED_TARGETS.has(input.target)) {
      throw new AppError('BAD_REQUEST', `invalid target "${input.target}": use production, archived, active or a slot name such as blue or green`, { field: 'target' });
    }
    return moveAlias(input);
  }

  /** Mark a version archived (refused while an alias points at it; the canary guard has its say) or active again. */
  async function setStatus(input: PromoteInput, target: 'archived' | 'active') {
    if (input.version === undefined) throw new AppError('BAD_REQUEST', `a version is needed to mark it ${target}`, { field: 'version' });
    const v = await requireVersion(input.model, input.version);
    return store.transaction(async (tx) => {
      await store.bumpRevision(tx);
      const aliases = await store.aliasesOf(input.model, tx);
      const pointing = Object.entries(aliases)
        .filter(([, ver]) => ver === v.version)
        .map(([a]) => a);
      if (target === 'archived' && pointing.length) {
        throw new AppError('CONFLICT', `version ${v.version} of ${input.model} is ${pointing.join(', ')}; promote another version there before archiving it`, { aliases: pointing });
      }
      if (target === 'archived') {
        await deps.guard?.(tx, {
          model: input.model,
          alias: null,
          version: v.version,
          previous: null,
          action: 'archive',
          force: input.force ?? false,
          reason: input.reason,
          actor: input.actor,
          at: clock.now().toISOString(),
        });
      }
      const changed = (await store.getVersion(input.model, v.version, tx))?.status !== target;
      if (changed) {
        await store.setStatus(tx, input.model, v.version, target);
        log.info({ model: input.model, version: v.version, status: target, actor: input.actor }, 'version status changed');
      }
      return { model: input.model, version: v.version, status: target, changed, aliases };
    });
  }

  /**
   * An alias moved to a version whose policy decides other things than the one before (a
   * version trained with the default policy promoted over one with bands): every client of the
   * alias now gets decisions it was never given. Allowed (a policy change is rolled out so),
   * and said.
   */
  function decisionChange(model: string, alias: string, to: VersionRow, from: number, before: VersionRow | undefined): string | undefined {
    const differ = before ? decisionsDiffer(to.manifest.policy, before.manifest.policy, to.manifest.output.class_labels, before.manifest.output.class_labels) : undefined;
    const rollback = `modelgate rollback --model ${model}${alias === 'production' ? '' : ` --slot ${alias}`}`;
    if (!differ) {
      // The same decisions, given far more or far less often on the rows each was profiled on.
      const rate = before ? actionRateChange(to, { ...before, version: from }) : undefined;
      return rate && `${alias} of ${model} is now version ${to.version}, and ${rate}; if that was not meant, roll back (${rollback})`;
    }
    const clients = differ.added.length ? 'its clients get decisions they were never given' : `its clients no longer get ${differ.missing.join(', ')}`;
    return `${alias} of ${model} now decides ${differ.mine.join(', ')} (version ${to.version}) where version ${from} decided ${differ.theirs.join(', ')}: ${clients}; if that was not meant, roll back (${rollback})`;
  }

  /**
   * An alias moved to a version that takes other inputs than the one before (a retrain on other
   * columns; a graph registered under the wrong model, when accepted): requests its clients make
   * are refused or scored with features missing. Allowed (clients may change with it), and said;
   * a version that takes none of them is refused first unless accepted (refuseNewInputs).
   */
  function inputChange(model: string, alias: string, to: VersionRow, from: number, before: VersionRow | undefined): string | undefined {
    const said = before ? inputsUnlike(to, before, `version ${from}`) : null;
    if (!said) return undefined;
    return `${alias} of ${model} is now version ${to.version}, which ${said}; if that was not meant, roll back (modelgate rollback --model ${model}${alias === 'production' ? '' : ` --slot ${alias}`})`;
  }

  /**
   * An alias about to move to a version that takes none of its version's features: every request
   * its clients make would be refused or scored with all features missing, which is almost always
   * a graph registered under the wrong model name. Refused unless the caller says its clients
   * change with it (acceptNewInputs); a version sharing some features is promoted and warned of.
   */
  function refuseNewInputs(model: string, alias: string, to: VersionRow, from: number, before: VersionRow | undefined): void {
    if (before) refuseTakingNone(to.manifest.contract, before.manifest.contract, { model, version: to.version, from, alias, outcome: `${alias} stays at version ${from}`, retry: 'promote it' });
  }

  /** Point an alias at a version (history, webhook event and the canary guard in the same transaction). */
  async function moveAlias(input: PromoteInput) {
    return store.transaction(async (tx) => {
      await store.bumpRevision(tx);
      const aliases = await store.aliasesOf(input.model, tx);
      const { alias, version, action } = aliasMove(input, aliases);
      const v = await store.getVersion(input.model, version, tx);
      if (!v) throw new AppError('VERSION_NOT_FOUND', `model ${input.model} has no version ${version}`, { model: input.model, version });
      if (v.status === 'archived') {
        throw new AppError('CONFLICT', `version ${version} of ${input.model} is archived; mark it active first (promote --to active)`, { version });
      }
      const previous = aliases[alias] ?? null;
      if (input.expectPrevious !== undefined && previous !== input.expectPrevious) {
        throw new AppError(
          'CONFLICT',
          `${alias} of ${input.model} is ${previous === null ? 'not set' : `version ${previous}`}, not ${input.expectPrevious}: it moved since; nothing promoted (run modelgate models ${input.model} to see the history)`,
          { alias, version: previous },
        );
      }
      const moved = previous !== null && previous !== version;
      // The version the alias leaves, read once: what its clients meet in the new one is judged against it.
      const before = moved ? await store.getVersion(input.model, previous, tx) : undefined;
      // A canary's promotion was accepted when it started (startCanary asks the same).
      if (moved && !input.expectCanary && !input.acceptNewInputs) refuseNewInputs(input.model, alias, v, previous, before);
      if (input.expectCanary && previous === version) {
        throw new AppError('CONFLICT', `${alias} of ${input.model} is already version ${version}`, { alias, version });
      }
      if (previous !== version) {
        const at = clock.now().toISOString();
        await deps.guard?.(tx, {
          model: input.model,
          alias,
          version,
          previous,
          action,
          force: input.force ?? false,
          reason: input.reason,
          expectCanary: input.expectCanary,
          ...(input.evidence ? { evidence: input.evidence } : {}),
          actor: input.actor,
          at,
        });
        await store.setAlias(tx, { model: input.model, alias, version, previous, action, actor: input.actor, at });
        await deps.emit?.(tx, 'model.promoted', { model: input.model, alias, version, previous_version: previous, actor: input.actor }, at);
      }
      const changed = previous !== version;
      if (changed) log.info({ model: input.model, alias, version, previous, actor: input.actor }, 'alias moved');
      const warnings = moved ? [inputChange(input.model, alias, v, previous, before), decisionChange(input.model, alias, v, previous, before)].filter((w): w is string => w !== undefined) : [];
      return { model: input.model, alias, version, previous_version: previous, changed, aliases: { ...aliases, [alias]: version }, ...(warnings.length ? { warnings } : {}) };
    });
  }

  async function rollback(input: { model: string; slot?: string; expectVersion?: number; force?: boolean; reason?: string; actor: string }) {
    await requireModel(input.model);
    const alias = input.slot ?? 'production';
    return store.transaction(async (tx) => {
      await store.bumpRevision(tx);
      const aliases = await store.aliasesOf(input.model, tx);
      const current = aliases[alias];
      if (current === undefined) throw new AppError('CONFLICT', `${input.model} has no ${alias} version to roll back`, { alias });
      if (input.expectVersion !== undefined && input.expectVersion !== current) {
        throw new AppError('CONFLICT', `${alias} of ${input.model} is version ${current}, not ${input.expectVersion}; nothing rolled back (run modelgate models ${input.model} to see the history)`, {
          alias,
          version: current,
        });
      }
      const previous = rollbackTarget(await store.aliasHistory(input.model, alias, tx), current);
      if (previous === null) throw new AppError('CONFLICT', `${alias} of ${input.model} has no earlier version to roll back to`, { alias, version: current });
      const prev = await store.getVersion(input.model, previous, tx);
      if (!prev || prev.status === 'archived') {
        throw new AppError('CONFLICT', `the previous ${alias} version ${previous} is archived; mark it active (promote --to active) or promote a version explicitly`, { alias, version: previous });
      }
      const at = clock.now().toISOString();
      await deps.guard?.(tx, { model: input.model, alias, version: previous, previous: current, action: 'rollback', force: input.force ?? false, reason: input.reason, actor: input.actor, at });
      await store.setAlias(tx, { model: input.model, alias, version: previous, previous: current, action: 'rollback', actor: input.actor, at });
      await deps.emit?.(tx, 'model.rolled_back', { model: input.model, alias, version: previous, rolled_back_from: current, actor: input.actor }, at);
      log.info({ model: input.model, alias, from: current, to: previous, actor: input.actor }, 'alias rolled back');
      return { model: input.model, alias, version: previous, rolled_back_from: current, aliases: { ...aliases, [alias]: previous } };
    });
  }

  /**
   * A new version with another decision policy and everything else as version `from` has it:
   * the same ONNX artifact (stored once, content-addressed), contract, metrics, training record
   * and reference profile. Policies are then promoted and rolled back like models. `costs`: the
   * cost matrix the policy's threshold was chosen for, which becomes the version's own (the
   * monitor's realised profit and a retrain's threshold use it); without it the policy was set by
   * hand, which a retrain says.
   */
  async function withPolicy(input: {
    model: string;
    from: number;
    policy: Policy;
    costs?: { tp: number; fp: number; fn: number; tn: number };
    /** The new policy's own figures, measured on labelled rows the version was not trained on, and which rows. */
    measured?: { metrics: Record<string, number>; data: { file: string; rows: number; sha256?: string } };
    actor: string;
  }) {
    const v = await requireVersion(input.model, input.from);
    const m = v.manifest;
    const training = (m.training ?? {}) as Record<string, unknown>;
    const params = (training.params ?? {}) as Record<string, unknown>;
    // The version decides this way already (for these costs, when given): a copy would change nothing.
    if (canonicalJson(input.policy) === canonicalJson(m.policy) && (!input.costs || canonicalJson(input.costs) === canonicalJson(params.cost_matrix ?? null))) {
      return { model: input.model, version: v.version, onnx_sha256: v.onnx_sha256, manifest_sha256: v.manifest_sha256, manifest: m, unchanged: true as const };
    }
    const { policy: _bands, threshold_metrics: _fitted, ...paramsWithoutBands } = params;
    const chosen = input.costs ? { params: { ...paramsWithoutBands, threshold_objective: 'profit', cost_matrix: input.costs }, policy_by_hand: false } : { policy_by_hand: true };
    const samePolicy = canonicalJson(input.policy) === canonicalJson(m.policy);
    const measured = input.measured?.metrics ?? {};
    const kept = policyFreeMetrics(m.metrics, samePolicy, measured);
    const leftOut = [...new Set([...((training.metrics_left_out as string[] | undefined) ?? []), ...kept.leftOut])].filter((k) => !(k in measured));
    const onnx = await artifacts.get(v.onnx_sha256);
    const single = m.contract.layout !== 'columns';
    // The model's own description, not the policy a variant of a variant was given.
    const base = typeof training.base_description === 'string' ? training.base_description : m.description;
    return register({
      model: input.model,
      onnx,
      policy: input.policy,
      ...(single ? { featureNames: m.contract.features.map((f) => f.name) } : {}),
      manifest: {
        // Said in the description: a listing otherwise shows the two versions alike.
        description: `${base ? `${base}; ` : ''}policy set from version ${v.version}: ${describePolicy(input.policy)}`,
        output: m.output.source === 'zipmap' ? (m.output.zipmap_output ?? undefined) : m.output.name,
        ...(taskOf(m.contract) === 'binary' ? { positive_class: m.output.positive_index } : {}),
        task: taskOf(m.contract),
        ...(kept.metrics ? { metrics: kept.metrics } : {}),
        training: {
          ...training,
          ...chosen,
          policy_from_version: v.version,
          ...(base ? { base_description: base } : {}),
          // Undefined (so not written) when nothing is left out any more: measured figures replaced them.
          metrics_left_out: leftOut.length ? leftOut : undefined,
          // Where the policy's own figures came from, when not the training run's held-out rows;
          // kept while only the costs change, since F1 and the rest are then the same.
          policy_metrics: input.measured ? { ...input.measured.data, measured: 'cross_fitted', metrics: Object.keys(measured) } : samePolicy ? training.policy_metrics : undefined,
        },
        ...(m.dataset_sha256 ? { dataset_sha256: m.dataset_sha256 } : {}),
        ...(m.run_id ? { run_id: m.run_id } : {}),
        ...(m.reference
          ? {
              reference: {
                ...m.reference,
                // The share of its rows the old policy acted on.
                ...(samePolicy ? {} : { action_rate: null }),
                ...((m.reference as Partial<ReferenceProfile>).metrics ? { metrics: policyFreeMetrics((m.reference as ReferenceProfile).metrics, samePolicy, measured).metrics } : {}),
              },
            }
          : {}),
        ...(m.contract.missing_category !== undefined ? { missing_category: m.contract.missing_category } : {}),
        ...(m.contract.cell_reading !== undefined ? { cell_reading: m.contract.cell_reading } : {}),
      },
      actor: input.actor,
    });
  }

  /** The version an alias (production, a slot) points at now. */
  async function versionOfAlias(model: string, alias: string): Promise<number> {
    await requireModel(model);
    const aliases = await store.aliasesOf(model);
    const v = aliases[alias];
    if (v === undefined) {
      const has = Object.keys(aliases);
      throw new AppError(
        'NOT_FOUND',
        `model ${model} has no alias ${alias} (${has.length ? `its aliases: ${has.join(', ')}` : 'no version of it has been promoted'}); name a version instead, or promote one to ${alias}`,
        { model, alias },
      );
    }
    return v;
  }

  /** Versions whose training run read exactly this data (the file's sha256), oldest first. */
  async function versionsTrainedOn(model: string, dataSha256: string) {
    await requireModel(model);
    const trainedOn = (m: Manifest) => m.dataset_sha256 ?? (m.training?.dataset as { sha256?: unknown } | undefined)?.sha256;
    return (await store.listVersions(model)).filter((v) => trainedOn(v.manifest) === dataSha256);
  }

  /** The versions whose ONNX graph has these bytes (by sha256), oldest first. */
  async function versionsWithGraph(model: string, onnxSha256: string) {
    await requireModel(model);
    return (await store.listVersions(model)).filter((v) => v.onnx_sha256 === onnxSha256);
  }

  /** The version a training run registered (`run_id` in its manifest). */
  async function versionOfRun(model: string, runId: string): Promise<number> {
    await requireModel(model);
    const matches = (await store.listVersions(model)).filter((v) => v.manifest.run_id === runId).map((v) => v.version);
    if (matches.length === 0)
      throw new AppError('VERSION_NOT_FOUND', `no version of ${model} was registered from training run ${runId}; modelgate models ${model} --json lists each version's run_id`, {
        model,
        run_id: runId,
      });
    if (matches.length > 1) {
      throw new AppError('CONFLICT', `training run ${runId} registered versions ${matches.join(', ')} of ${model} (policy variants share a run); name one with --version`, {
        model,
        run_id: runId,
        versions: matches,
      });
    }
    return matches[0];
  }

  const withPositiveClass = (positive: string | number | undefined) => (positive === undefined ? {} : { positive_class: positive });

  /** The task's main metric as the version's manifest records it (held out in training, or what an import brought), to compare versions at a glance. */
  const heldOut = (m: Manifest): { metric: MainMetric; value: number } | null => {
    const metric = MAIN_METRIC[taskOf(m.contract)];
    const value = m.metrics?.[metric];
    return typeof value === 'number' && Number.isFinite(value) ? { metric, value } : null;
  };

  const versionSummary = (v: VersionRow, aliases: Record<string, number>, engines: Map<number, EngineCheck>, production: VersionRow | undefined) => ({
    version: v.version,
    status: v.status,
    onnx_sha256: v.onnx_sha256,
    size_bytes: v.size_bytes,
    run_id: v.manifest.run_id ?? null,
    description: v.manifest.description ?? null,
    task: taskOf(v.manifest.contract),
    ...(taskOf(v.manifest.contract) === 'multiclass' ? { classes: v.manifest.output.class_labels ?? [] } : {}),
    ...withPositiveClass(positiveClassOf(taskOf(v.manifest.contract), v.manifest.output)),
    created_at: v.created_at,
    created_by: v.created_by,
    decisions: policyDecisions(v.manifest.policy, v.manifest.output.class_labels) ?? null,
    held_out: heldOut(v.manifest),
    aliases: Object.entries(aliases)
      .filter(([, n]) => n === v.version)
      .map(([a]) => a),
    inputs_unlike_production: inputsUnlike(v, production),
    engine: engineOut(engines.get(v.version)),
  });

  /** What requests made for `other` (production, by default named so) meet in this version, in words; null when nothing (or it is that version). */
  function inputsUnlike(v: VersionRow, other: VersionRow | undefined, label = `production (version ${other?.version})`): string | null {
    if (!other || other.version === v.version) return null;
    const change = contractChange(v.manifest.contract, other.manifest.contract);
    return change ? describeContractChange(change, label) : null;
  }

  /** What the last load said: engine, why not compiled, memory; null before anything loaded it (versions registered before engines were recorded). */
  const engineOut = (c: EngineCheck | undefined) => (c ? { engine: c.engine, ...(c.reason ? { reason: c.reason } : {}), memory_bytes: c.memory_bytes, checked_at: c.checked_at } : null);

  async function getModel(name: string) {
    const m = await requireModel(name);
    const [versions, aliases, history, engines] = await Promise.all([store.listVersions(name), store.aliasesOf(name), store.aliasHistory(name), store.engineChecks(name)]);
    // What a rollback of each alias would point it at (null: nothing to roll back to), from the
    // whole history: the 50 events shown may not reach the one that placed the version.
    const rollback_to = Object.fromEntries(
      Object.entries(aliases).map(([alias, current]) => [
        alias,
        rollbackTarget(
          history.filter((e) => e.alias === alias),
          current,
        ),
      ]),
    );
    const production = versions.find((v) => v.version === aliases.production);
    return { ...m, aliases, versions: versions.map((v) => versionSummary(v, aliases, engines, production)), alias_history: history.slice(0, 50), rollback_to };
  }

  async function getVersion(name: string, version: number) {
    const v = await requireVersion(name, version);
    const [aliases, engines] = await Promise.all([store.aliasesOf(name), store.engineChecks(name)]);
    const production = aliases.production === undefined || aliases.production === version ? undefined : await store.getVersion(name, aliases.production);
    return {
      model: name,
      ...versionSummary(v, aliases, engines, production),
      manifest_sha256: v.manifest_sha256,
      contract: v.manifest.contract,
      policy: v.manifest.policy,
      metrics: v.manifest.metrics ?? {},
      manifest: v.manifest,
    };
  }

  async function verify(onProgress?: (r: VerifyResult, i: number, n: number) => void): Promise<VerifyResult[]> {
    const versions = await store.allVersions();
    const results: VerifyResult[] = [];
    for (const [i, v] of versions.entries()) {
      const problems = await storedVersionProblems(artifacts, v);
      const r = { model: v.model, version: v.version, ok: problems.length === 0, problems };
      results.push(r);
      onProgress?.(r, i + 1, versions.length);
    }
    return results;
  }

  /** The view the serving pool polls. */
  const source: RegistrySource = {
    revision: () => store.revision(),
    aliases: () => store.allAliases(),
    async fetch(model, version) {
      const v = await store.getVersion(model, version);
      if (!v) return undefined;
      if (!SUPPORTED_CONTRACT_VERSIONS.includes(v.contract_version)) {
        throw new AppError('INVALID_MODEL', `model ${model} version ${version} has contract version ${v.contract_version}, which this modelgate cannot serve; upgrade modelgate`);
      }
      const bytes = await artifacts.get(v.onnx_sha256);
      const m = v.manifest;
      return {
        archived: v.status === 'archived',
        bytes,
        spec: { model, version, contract: withClosedCategories(m.contract, bytes), output: m.output, policy: m.policy, ...fromReference(m.reference), ...leftOutColumns(m.training) },
      };
    },
  };

  return {
    prepare: (input: Omit<RegisterInput, 'actor'>) => prepare(input, deps.maxModelBytes),
    /** Refuse early (before training or profiling) what register would refuse for its task. */
    checkTask: (model: string, task: Task) => refuseTaskChange(model, task),
    register,
    withPolicy,
    promote,
    rollback,
    verify,
    getModel,
    /** Throws MODEL_NOT_FOUND (with what to do) unless the model exists. */
    requireModel: async (name: string): Promise<void> => {
      await requireModel(name);
    },
    getVersion,
    versionOfRun,
    versionsTrainedOn,
    versionsWithGraph,
    versionOfAlias,
    listModels: () => store.listModels(),
    /** Record which engine serves a version in this process (servers call it after each load). */
    recordEngine: (model: string, version: number, engine: EngineInfo) => store.recordEngine({ model, version, ...engine, checked_at: clock.now().toISOString() }),
    source,
  };
}

export type RegistryService = ReturnType<typeof createRegistryService>;
