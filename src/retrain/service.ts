import { PRIVATE_DIR_MODE } from '../lib/private-files.js';
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Insertable, Selectable } from 'kysely';
import type { Db, RetrainRunsTable } from '../db/index.js';
import { fromJson, isUniqueViolation, toIso } from '../db/index.js';
import { describePolicy, openReferenceOffThread, Servable, type Policy, type ServableSpec } from '../inference/index.js';
import { checkS3Location, openDataStream, type S3Access } from '../lib/data-location.js';
import type { Clock } from '../lib/clock.js';
import { parseDuration } from '../lib/duration.js';
import { sha256File } from '../lib/files.js';
import { assertInputFile } from '../lib/user-paths.js';
import { Yielder } from '../lib/yielder.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { MAIN_METRIC } from '../lib/main-metric.js';
import { isNoSpace, noSpaceError } from '../lib/disk-space.js';
import { AppError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { costMatrixOf, type Report } from '../monitoring/index.js';
import { trainingTarget, type RegistryService } from '../registry/index.js';
import { checkSteps, type RolloutService } from '../rollout/index.js';
import { crossFitted, evaluateMulticlass, evaluateRegression, evaluateScores, rowPayload, TRAINED_CELL_READING, type Dataset, type RowSketch, type TrainingTask } from '../training/index.js';
import type { EmitEvent } from '../webhooks/index.js';
import type { RetrainPlan } from './plan.js';
import { featureColumns, type RunRecord } from './train-again.js';

export type { RetrainPlan } from './plan.js';
import { planDataWarning } from './plan-data.js';
import { flatteredWarning, trainedRowsWarning } from './flattered.js';
import { trainOffThread } from './train-off-thread.js';

/**
 * Retraining that closes the loop: a version trained by modelgate is trained again from its own
 * run record (algorithm, parameters, target, column roles, split, costs, gates) on new data,
 * compared with the version it would replace on the new data's held-out rows, registered only
 * when every gate passes, and optionally sent out as a stepped canary with automatic analysis.
 * A model's retrain plan lets the monitor's leader do this by itself when a report recommends
 * retraining, at most once per plan interval across the cluster.
 */
export interface RetrainDeps {
  db: Db;
  registry: RegistryService;
  rollouts: RolloutService;
  clock: Clock;
  log: Logger;
  emit: EmitEvent;
  s3: S3Access;
  /** Where s3:// data is downloaded for the two passes the trainer makes. */
  workDir: string;
  /** How often a run in progress records that it is alive (default 30 s; tests shorten it). */
  heartbeatMs?: number;
}

export interface RetrainInput {
  model: string;
  /** New training data: a CSV path or s3://bucket/key, with the same target column. */
  data: string;
  /** The version whose run record is repeated and which the candidate must beat; default production. */
  fromVersion?: number;
  /** Start a stepped canary of the candidate with these percents (auto-promoted when healthy). */
  canarySteps?: number[];
  stepInterval?: string;
  /** The candidate's main metric (binary ROC AUC, multiclass accuracy, regression R²) may be at most this far below the current version's; default 0. */
  maxMetricDrop?: number;
  /** Train even on data a version was trained on already (after an upgrade of the trainer, say); a plan never does. */
  sameData?: boolean;
  trigger: 'manual' | 'monitor';
  actor: string;
  onProgress?: (message: string) => void;
  /** Called with the run's id once it is recorded as running (before any data is read). */
  onStart?: (id: string) => void;
}

export interface RetrainGate {
  gate: string;
  metric: string;
  threshold: number;
  value: number | null;
  passed: boolean;
  /** How far from passing, in the metric's units (positive when failed). */
  short_by: number | null;
}

export interface RetrainResult {
  id: string;
  model: string;
  /**
   * unchanged: the data is what the version, or a candidate already retrained from it, was
   * trained on (nothing trained); or the candidate trained is a registered version again, the
   * same graph and policy (nothing registered; its metrics are given).
   */
  status: 'gated_out' | 'registered' | 'canary_started' | 'unchanged';
  task: TrainingTask;
  from_version: number;
  candidate_version: number | null;
  metrics: { candidate: Record<string, number>; current: Record<string, number> };
  gates: RetrainGate[];
  canary: { steps: number[] } | null;
  /** What else to know of the candidate: classes its data lacked or added (multiclass), a hand-set policy not carried over, a canary that did not start. */
  warnings: string[];
  /** With status unchanged: the version trained on this data already (or that the candidate is again), and why it stands for the candidate. */
  same_as?: number;
  reason?: string;
}

/**
 * A multiclass candidate predicts the classes its new data holds: a class the version predicted
 * that the data has no row of (a rare meal plan in a quiet month) can no longer be predicted,
 * and a class new to the data is one the version never predicted. Said, not refused: the
 * candidate may still be the better model, and its outcomes still count such rows as misses.
 */
function classChanges(before: (string | number)[] | undefined, after: string[] | undefined, task: TrainingTask, fromVersion: number): string[] {
  if (task !== 'multiclass' || !before || !after) return [];
  const had = before.map(String);
  const lost = had.filter((c) => !after.includes(c));
  const added = after.filter((c) => !had.includes(c));
  const list = (cs: string[]) => cs.map((c) => JSON.stringify(c)).join(', ');
  return [
    ...(lost.length
      ? [
          `class${lost.length > 1 ? 'es' : ''} ${list(lost)} of version ${fromVersion} ${lost.length > 1 ? 'have' : 'has'} no row in the new data: the candidate cannot predict ${lost.length > 1 ? 'them' : 'it'} (feedback naming ${lost.length > 1 ? 'them' : 'it'} counts as a miss)`,
        ]
      : []),
    ...(added.length
      ? [`class${added.length > 1 ? 'es' : ''} ${list(added)} ${added.length > 1 ? 'are' : 'is'} new in the data: version ${fromVersion} never predicted ${added.length > 1 ? 'them' : 'it'}`]
      : []),
  ];
}

/**
 * The version's multiclass policy for a candidate that lacks some of its classes: a decision or
 * minimum named for a class the candidate cannot predict would never apply, and registering
 * would refuse it as an unknown class, so it is left out (and said).
 */
function withoutClassesOutside(policy: Policy, classes: string[], warnings: string[]): Policy {
  const keep = <T>(named: Record<string, T>) => Object.fromEntries(Object.entries(named).filter(([c]) => classes.includes(c)));
  const named = policy.type === 'class_map' ? policy.decisions : policy.type === 'min_probability' ? (policy.per_class ?? {}) : {};
  const dropped = Object.keys(named).filter((c) => !classes.includes(c));
  if (!dropped.length) return policy;
  warnings.push(
    `the policy's ${policy.type === 'class_map' ? 'decision' : 'minimum'} for ${dropped.map((c) => JSON.stringify(c)).join(', ')} is left out of the candidate's, which cannot predict ${dropped.length > 1 ? 'them' : 'it'}`,
  );
  if (policy.type === 'class_map') return { ...policy, decisions: keep(policy.decisions) };
  if (policy.type === 'min_probability') {
    const { per_class: perClass, ...rest } = policy;
    const left = keep(perClass ?? {});
    return Object.keys(left).length ? { ...rest, per_class: left } : rest;
  }
  return policy;
}

/** The main metric per task, and whether higher is better. */
/** Gates a run record may hold: metric, and whether the threshold is a minimum. */
const GATES: Record<string, { metric: string; min: boolean }> = {
  min_auc: { metric: 'roc_auc', min: true },
  min_f1: { metric: 'f1', min: true },
  min_r2: { metric: 'r2', min: true },
  max_mae: { metric: 'mae', min: false },
  min_accuracy: { metric: 'accuracy', min: true },
};

/** The run's own gates on the candidate's metrics, then the candidate against the current version (at most `drop` below it). */
function gatesFor(run: RunRecord, candidate: Record<string, number>, current: Record<string, number>, main: string, drop: number): RetrainGate[] {
  const gates: RetrainGate[] = Object.entries(run.gates ?? {})
    .filter(([g]) => GATES[g])
    .map(([g, threshold]) => {
      const { metric, min } = GATES[g];
      const value = candidate[metric] ?? null;
      const passed = value !== null && (min ? value >= threshold : value <= threshold);
      return { gate: g, metric, threshold, value, passed, short_by: value === null ? null : passed ? 0 : Math.abs(threshold - value) };
    });
  const floor = (current[main] ?? -Infinity) - drop;
  const value = candidate[main] ?? null;
  const beats = value !== null && value >= floor;
  gates.push({ gate: 'vs_current', metric: main, threshold: floor, value, passed: beats, short_by: value === null ? null : beats ? 0 : floor - value });
  return gates;
}

/** The current version's metrics on the candidate's held-out rows, scored through the serving code. */
async function currentMetrics(
  registry: RegistryService,
  model: string,
  version: number,
  task: TrainingTask,
  test: Dataset,
  policy: Policy,
  training: Record<string, unknown> | undefined,
): Promise<Record<string, number>> {
  const found = await registry.source.fetch(model, version);
  if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${model} has no version ${version}`);
  return servedMetrics(found.bytes, found.spec, task, test, policy, training);
}

/**
 * A model's metrics on held-out rows, scored through the serving code (its encoder, engine and
 * policy), as the current version and the candidate are both measured: the trainer computes in
 * float64 where a served graph computes in float32, and a candidate measured one way against a
 * version measured the other differed by 1e-9 of R² when the two were the same model, which
 * was enough to gate it out.
 */
async function servedMetrics(
  bytes: Uint8Array,
  spec: ServableSpec,
  task: TrainingTask,
  test: Dataset,
  policy: Policy,
  training: Record<string, unknown> | undefined,
  thresholdChosenHere = false,
): Promise<Record<string, number>> {
  const s = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 512, maxWaitUs: 0 }, openReference: openReferenceOffThread });
  try {
    const idx: number[] = [];
    const rows = [];
    // A planned retrain runs in the server: tens of thousands of held-out rows give requests a turn every few ms.
    const yielder = new Yielder();
    for (let i = 0; i < test.rows; i++) {
      try {
        rows.push(s.encoder.encode(rowPayload(test, i), 'row').row);
        idx.push(i);
      } catch {
        // A row this version cannot take is left out of its numbers (the candidate scores every row).
      }
      if (yielder.due()) await yielder.pause();
    }
    const outcomes = [];
    for (let i = 0; i < rows.length; i += 512) {
      outcomes.push(...(await s.scoreMany(rows.slice(i, i + 512))));
      if (yielder.spent()) await yielder.pause();
    }
    // The same evaluations `modelgate evaluate` reports, on the candidate's held-out rows.
    const picked = <T extends object>(m: T, keys: (keyof T & string)[]): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const key of keys) if (typeof m[key] === 'number') out[key] = m[key] as number;
      return out;
    };
    if (task === 'regression')
      return picked(
        evaluateRegression(
          outcomes,
          idx.map((i) => test.target![i]),
          policy,
        ),
        ['mae', 'rmse', 'r2'],
      );
    if (task === 'multiclass') {
      const m = evaluateMulticlass(
        outcomes,
        idx.map((i) => test.classes![test.classIndex![i]]),
        spec.output.class_labels ?? [],
        policy,
      );
      return picked(m, ['accuracy', 'macro_f1', 'log_loss']);
    }
    const scores = outcomes.map((o) => o.score);
    const labels = idx.map((i) => test.label[i]);
    const costs = costMatrixOf(training);
    const m = picked(evaluateScores(scores, labels, policy, costs), ['roc_auc', 'f1', 'log_loss', 'expected_profit_per_row']);
    if (!thresholdChosenHere) return m;
    // The candidate's threshold was chosen on these very rows: its F1 and profit there flatter it (threshold.ts).
    const fitted = crossFitted(scores, labels, costs ?? undefined);
    const { f1: _f1, expected_profit_per_row: _profit, ...rest } = m;
    return {
      ...rest,
      ...(Number.isFinite(fitted.f1) ? { f1: fitted.f1 } : {}),
      ...(fitted.profit_per_row !== undefined && Number.isFinite(fitted.profit_per_row) ? { expected_profit_per_row: fitted.profit_per_row } : {}),
    };
  } finally {
    await s.release();
  }
}

/**
 * What a plan and a Retrain now both check before anything runs, in words: a local path must be
 * absolute (a server reads it from its own working directory), canary steps in order, a step
 * interval only with steps, a metric drop of 0 or more. Returns the steps.
 */
function checkCandidateSettings(input: { data: string; canarySteps?: number[]; stepInterval?: string; maxMetricDrop?: number }): number[] {
  if (!input.data.startsWith('s3://') && !path.isAbsolute(input.data))
    throw new AppError(
      'VALIDATION_FAILED',
      `data: ${JSON.stringify(input.data)} is a relative path, which a server would read from its own working directory: give an absolute path (/data/churn/latest.csv) or s3://bucket/key`,
      { field: 'data' },
    );
  const steps = checkSteps(input.canarySteps ?? [], 'canary_steps');
  if (input.stepInterval !== undefined) {
    if (!steps.length)
      throw new AppError('VALIDATION_FAILED', 'step_interval: how long each canary step must stay healthy, so only with canary steps; give them (10,50,100), or leave step_interval out', {
        field: 'step_interval',
      });
    parseDuration(input.stepInterval, 'step_interval');
  }
  const drop = input.maxMetricDrop ?? 0;
  if (!Number.isFinite(drop) || drop < 0)
    throw new AppError('VALIDATION_FAILED', `max_metric_drop: expected 0 or more (how far below the current version's main metric a candidate may be), got ${drop}`, {
      field: 'max_metric_drop',
    });
  return steps;
}

/** How often a run in progress says it is alive, by default; one silent for LOST_AFTER heartbeats was stopped without finishing. */
const HEARTBEAT_MS = 30_000;
const LOST_AFTER = 4;

export function createRetrainService(deps: RetrainDeps) {
  const k = deps.db.kysely;
  const now = () => deps.clock.now().toISOString();
  const running = new Set<string>();
  let pending: Promise<unknown> = Promise.resolve();
  // Every retrain in progress (planned or a CLI's), and the signal that stops them all.
  const active = new Set<Promise<unknown>>();
  const stopping = new AbortController();

  async function event(type: Parameters<EmitEvent>[1], data: Record<string, unknown>) {
    await deps.emit(k, type, data, now());
  }

  /** The new data as a local file (an s3:// object is downloaded: the trainer reads it twice). */
  async function localData(location: string): Promise<{ file: string; cleanup: () => Promise<void> }> {
    if (!location.startsWith('s3://')) return { file: location, cleanup: async () => undefined };
    await mkdir(deps.workDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const file = path.join(deps.workDir, `retrain-${randomUUID()}.csv`);
    try {
      await pipeline(await openDataStream(location, deps.s3), createWriteStream(file), { signal: stopping.signal });
    } catch (e) {
      const error = stopping.signal.aborted ? stopping.signal.reason : isNoSpace(e) ? noSpaceError(e, deps.workDir, `${location} was not downloaded for the retrain`) : e;
      await rm(file, { force: true });
      throw error;
    }
    return { file, cleanup: () => rm(file, { force: true }) };
  }

  /** The version a retrain repeats (production unless named) and its run record, or why there is none to repeat. */
  async function runToRepeat(name: string, version: number | undefined, hint = '; give --version N') {
    const model = await deps.registry.getModel(name);
    const fromVersion = version ?? model.aliases.production;
    if (fromVersion === undefined) throw new AppError('CONFLICT', `model ${name} has no production version to retrain${hint}`);
    const v = await deps.registry.getVersion(name, fromVersion);
    const run = v.manifest.training as RunRecord | undefined;
    if (!run?.algorithm) {
      throw new AppError(
        'BAD_REQUEST',
        `model ${name} version ${fromVersion} was imported (registered from an ONNX file), so it has no training run record to repeat; train a new version with modelgate train and register it`,
      );
    }
    const target = trainingTarget(run);
    if (!target || !featureColumns(run.columns).length)
      throw new AppError(
        'BAD_REQUEST',
        `model ${name} version ${fromVersion}'s run record has no ${target ? 'column roles' : 'target'} (it was trained before retraining existed, or by a demo before 2026-12-04); train it again with modelgate train once, and retrain from that version`,
      );
    return { fromVersion, v, run: { ...run, algorithm: run.algorithm, target } };
  }

  /**
   * Training is deterministic (seeded), so the same run record on the same data makes the same
   * model again: the version itself when it was trained on this data, or a candidate an earlier
   * retrain of it registered from this data. A plan whose data has not changed would otherwise
   * register an identical version (and start its canary) each interval the monitor still
   * recommends retraining.
   */
  async function trainedOnThisData(model: string, fromVersion: number, dataSha256: string, data: string) {
    const versions = await deps.registry.versionsTrainedOn(model, dataSha256);
    if (versions.some((x) => x.version === fromVersion)) return { version: fromVersion, reason: `${data} is the data version ${fromVersion} was trained on (sha256 ${dataSha256.slice(0, 12)}…)` };
    const retrained = versions.filter((x) => (x.manifest.training as { retrained_from?: { version?: unknown } } | undefined)?.retrained_from?.version === fromVersion).at(-1);
    if (!retrained) return undefined;
    return {
      version: retrained.version,
      reason: `version ${retrained.version}${retrained.status === 'archived' ? ' (archived)' : ''} was retrained from version ${fromVersion} on this data already (${data}, sha256 ${dataSha256.slice(0, 12)}…)${
        retrained.status === 'archived' ? '; restore it if it should be tried again' : `; try it with modelgate canary start --model ${model} --version ${retrained.version}`
      }`,
    };
  }

  /** A registered version that is the candidate again: the same graph bytes and the same policy. */
  async function registeredTwin(model: string, onnx: Uint8Array, policy: Policy) {
    const sha = createHash('sha256').update(onnx).digest('hex');
    const twin = (await deps.registry.versionsWithGraph(model, sha)).filter((x) => canonicalJson(x.manifest.policy) === canonicalJson(policy)).at(-1);
    if (!twin) return undefined;
    return {
      version: twin.version,
      onnx_sha256: sha,
      reason: `the candidate trained on this data is version ${twin.version} again (the same graph, sha256 ${sha.slice(0, 12)}…, and the same policy): the data teaches nothing version ${twin.version} did not learn${
        twin.status === 'archived' ? `; version ${twin.version} is archived: restore it if it should serve` : ''
      }`,
    };
  }

  /** The canary running on a model, if any: a retrain that would start one waits for it. */
  async function runningCanary(model: string): Promise<string | undefined> {
    const r = await deps.rollouts.store.get(model);
    return r?.canary_version != null ? `version ${r.canary_version} at ${r.canary_percent}% against ${r.production_version}` : undefined;
  }

  /**
   * Record a run as the model's one running retrain. The database refuses a second (a unique
   * index over the runs still 'running'), so two replicas or a replica and a CLI cannot both
   * train the model: a read first would let both see none. A run whose process fell silent is
   * recorded as lost, and the new one takes its place.
   */
  async function claimRun(row: Insertable<RetrainRunsTable>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await k.insertInto('retrain_runs').values(row).execute();
        return;
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        // Taken again between the look below and this second insert: another retrain won.
        if (attempt > 0) throw busy(row.model);
      }
      const other = await k.selectFrom('retrain_runs').selectAll().where('model', '=', row.model).where('status', '=', 'running').executeTakeFirst();
      if (!other) continue; // it ended meanwhile
      const lost = lostDetail(other);
      if (!lost) throw busy(row.model, other);
      await k
        .updateTable('retrain_runs')
        .set({ status: 'lost', finished_at: now(), detail: JSON.stringify(lost) })
        .where('id', '=', other.id)
        .where('status', '=', 'running')
        .execute();
    }
  }

  function busy(model: string, other?: Selectable<RetrainRunsTable>): AppError {
    const d = (other?.detail == null ? {} : fromJson(other.detail)) as { holder?: string; actor?: string };
    const what = other
      ? ` (since ${toIso(other.started_at as string)}${d.holder ? ` on ${d.holder}` : ''}${other.trigger === 'monitor' ? ', its retrain plan' : d.actor ? `, started by ${d.actor}` : ''})`
      : '';
    return new AppError(
      'CONFLICT',
      `a retrain of ${model} is running${what}; one runs at a time: wait for it to end (modelgate retrain plan show --model ${model}, or GET /v1/models/${model}/retrain, lists it)`,
      {
        model,
      },
    );
  }

  /** Why a 'running' run whose process has said nothing for LOST_AFTER of its heartbeats stopped without finishing; undefined while it is alive. */
  function lostDetail(r: Selectable<RetrainRunsTable>): Record<string, unknown> | undefined {
    const started_at = toIso(r.started_at as string);
    const { alive_at, holder, heartbeat_ms, actor } = (r.detail == null ? {} : fromJson(r.detail)) as { alive_at?: string; holder?: string; heartbeat_ms?: number; actor?: string };
    const last = alive_at ?? started_at;
    // Judged by the writer's own heartbeat (a run from before heartbeats: the default).
    if (deps.clock.now().getTime() - Date.parse(last) < LOST_AFTER * (heartbeat_ms ?? HEARTBEAT_MS)) return undefined;
    return {
      error: `no word from ${holder ? `the process running it (${holder})` : 'the process running it'} since ${last}: it stopped without finishing (killed, out of memory, or its machine went down); nothing was registered`,
      ...(holder ? { holder } : {}),
      alive_at: last,
      ...(actor ? { actor } : {}),
    };
  }

  /** One retrain, counted in `active` while it runs so stop() can wait for it. */
  function retrain(input: RetrainInput): Promise<RetrainResult> {
    const job = retrainOnce(input);
    active.add(job);
    void job.catch(() => undefined).finally(() => active.delete(job));
    return job;
  }

  async function retrainOnce(input: RetrainInput): Promise<RetrainResult> {
    if (stopping.signal.aborted) throw stopping.signal.reason;
    const say = (m: string) => input.onProgress?.(m);
    const { fromVersion, v, run } = await runToRepeat(input.model, input.fromVersion);
    // Refused before training, not after registering: the candidate's canary could not start.
    const busy = input.canarySteps?.length ? await runningCanary(input.model) : undefined;
    if (busy)
      throw new AppError(
        'CONFLICT',
        `a canary of ${input.model} is already running (${busy}): a retrain with --canary waits for it to end; stop or promote it first, or retrain without --canary to register the candidate only`,
      );
    const id = randomUUID();
    // Who runs it and when it last said so: a process killed outright (SIGKILL, out of memory)
    // cannot record its end, and its run would read 'running' for good; runs() calls it lost.
    const heartbeatMs = deps.heartbeatMs ?? HEARTBEAT_MS;
    // Who started it stays in its detail to the end (the run list shows it; webhook events carry it too).
    const alive = () => JSON.stringify({ alive_at: now(), holder: `${hostname()}:${process.pid}`, heartbeat_ms: heartbeatMs, actor: input.actor });
    await claimRun({ id, model: input.model, trigger: input.trigger, status: 'running', from_version: fromVersion, candidate_version: null, started_at: now(), finished_at: null, detail: alive() });
    const heartbeat = setInterval(() => {
      k.updateTable('retrain_runs')
        .set({ detail: alive() })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute()
        .catch(() => undefined);
    }, heartbeatMs);
    heartbeat.unref();
    input.onStart?.(id);
    const finish = async (status: string, detail: Record<string, unknown>, candidate: number | null = null) => {
      clearInterval(heartbeat);
      await k
        .updateTable('retrain_runs')
        .set({ status, candidate_version: candidate, finished_at: now(), detail: JSON.stringify({ ...detail, actor: input.actor }) })
        .where('id', '=', id)
        .execute();
    };
    // Stopped (shutdown, Ctrl-C): 'interrupted', which does not use up a plan's interval.
    const failed = async (e: unknown) => {
      const interrupted = stopping.signal.aborted;
      await finish(interrupted ? 'interrupted' : 'failed', { error: errorMessage(e) }).catch(() => undefined);
      await event('retrain.failed', { id, model: input.model, from_version: fromVersion, error: errorMessage(e), ...(interrupted ? { interrupted: true } : {}) }).catch(() => undefined);
    };
    const { file, cleanup } = await event('retrain.started', { id, model: input.model, from_version: fromVersion, data: input.data, trigger: input.trigger, actor: input.actor })
      .then(() => localData(input.data))
      .catch(async (e: unknown) => {
        await failed(e);
        throw e;
      });
    try {
      const task = run.task ?? 'binary';
      // A pipe cannot be read twice: only a file is hashed before training reads it.
      assertInputFile(file, 'give the path of a CSV file or s3://bucket/key');
      const dataSha256 = statSync(file).isFile() ? (await sha256File(file)).sha256 : undefined;
      const same = input.sameData || !dataSha256 ? undefined : await trainedOnThisData(input.model, fromVersion, dataSha256, input.data);
      // Nothing new: recorded and told as 'unchanged', with the version that stands for the candidate.
      const unchanged = async (
        detail: { same_as: number; reason: string } & Record<string, unknown>,
        said: string,
        metrics: RetrainResult['metrics'] = { candidate: {}, current: {} },
      ): Promise<RetrainResult> => {
        await finish('unchanged', Object.keys(metrics.candidate).length ? { ...detail, metrics } : detail);
        await event('retrain.unchanged', { id, model: input.model, from_version: fromVersion, data: input.data, ...detail });
        say(said);
        return {
          id,
          model: input.model,
          task,
          status: 'unchanged',
          from_version: fromVersion,
          candidate_version: null,
          metrics,
          gates: [],
          canary: null,
          warnings: [],
          same_as: detail.same_as,
          reason: detail.reason,
        };
      };
      if (same) return await unchanged({ same_as: same.version, reason: same.reason, data_sha256: dataSha256! }, `the data is what version ${same.version} was trained on: nothing to train`);
      say(`retraining ${input.model} from version ${fromVersion}'s run ${run.run_id ?? ''}: ${run.algorithm} (${task}) on ${input.data}`);
      const { trained, test, copies, heldOutWithCopy, columns, sha256, rowsRead, classLabels, timeSplit } = await trainOffThread(
        { file, data: input.data, model: input.model, fromVersion, run, task, policy: v.manifest.policy },
        say,
        stopping.signal,
      );
      const classes = (trained.run as { classes?: string[] }).classes;
      const warnings = classChanges(v.manifest.output.class_labels, classes, task, fromVersion);
      const policy = task === 'multiclass' && classes ? withoutClassesOutside(trained.policy, classes, warnings) : trained.policy;
      const manifestBase = { ...TRAINED_CELL_READING, ...(classLabels ? { class_labels: classLabels } : {}) };
      // Both measured the same way, through the serving code, on the same held-out rows.
      const { contract, output } = deps.registry.prepare({ model: input.model, onnx: trained.onnx, task, manifest: manifestBase, policy });
      const chosenHere = task === 'binary' && (trained.run as { params?: { threshold_metrics?: string } }).params?.threshold_metrics === 'cross_fitted';
      const candidate = await servedMetrics(trained.onnx, { model: input.model, version: 0, contract, output, policy }, task, test, policy, trained.run, chosenHere);
      const current = await currentMetrics(deps.registry, input.model, fromVersion, task, test, v.manifest.policy, v.manifest.training);
      const main = MAIN_METRIC[task];
      say(`candidate ${main} ${candidate[main]?.toFixed(4)}, version ${fromVersion} ${current[main]?.toFixed(4)} on the same held-out rows`);
      // The same data in another form (reordered columns, an export of the same rows) trains the
      // same graph: registering it again would add a version, and a plan's canary, of nothing new.
      const twin = input.sameData ? undefined : await registeredTwin(input.model, trained.onnx, policy);
      if (twin)
        return await unchanged({ same_as: twin.version, reason: twin.reason, onnx_sha256: twin.onnx_sha256 }, `the candidate is version ${twin.version} again: nothing to register`, {
          candidate,
          current,
        });
      const gates = gatesFor(run, candidate, current, main, input.maxMetricDrop ?? 0);
      const failed = gates.filter((g) => !g.passed);
      const timeColumn = run.split?.kind === 'time' ? run.split.time_column : undefined;
      // Known from the run's sample of its training rows when it kept one; else inferred from the scores.
      const known = trainedRowsWarning((v.manifest.training as { rows_sketch?: RowSketch } | undefined)?.rows_sketch, test, fromVersion, timeColumn);
      const flattered = known ? known.said : flatteredWarning(task, (v.manifest.training as { metrics?: Record<string, unknown> } | undefined)?.metrics, current, test, fromVersion, timeColumn);
      if (flattered) warnings.push(flattered);
      if ((v.manifest.training as { policy_by_hand?: boolean } | undefined)?.policy_by_hand && JSON.stringify(policy) !== JSON.stringify(v.manifest.policy))
        warnings.push(
          `version ${fromVersion}'s policy (${describePolicy(v.manifest.policy)}) was set by hand with modelgate policy set; the candidate's (${describePolicy(policy)}) is chosen as the training run chooses; set it again on the candidate with modelgate policy set if the hand-set one should stay`,
        );
      for (const w of warnings) say(`warning: ${w}`);
      const base = { id, model: input.model, task, from_version: fromVersion, metrics: { candidate, current }, gates, warnings };
      if (failed.length) {
        await finish('gated_out', { metrics: base.metrics, gates, ...(warnings.length ? { warnings } : {}) });
        await event('retrain.gated_out', { ...base, failed: failed.map((g) => ({ gate: g.gate, metric: g.metric, threshold: g.threshold, value: g.value, short_by: g.short_by })) });
        say(
          `gated out: ${failed.map((g) => `${g.gate} (${g.metric} ${g.value?.toFixed(4) ?? '—'} vs ${g.threshold.toFixed(4)}, short by ${g.short_by?.toFixed(4) ?? '—'})`).join('; ')}; nothing was registered`,
        );
        return { ...base, status: 'gated_out', candidate_version: null, canary: null };
      }
      const record = {
        ...trained.run,
        dataset: { file: input.data, sha256, rows_read: rowsRead },
        columns,
        split: { ...run.split, ...timeSplit, copies, held_out_with_copy: heldOutWithCopy },
        target: run.target,
        task,
        gates: run.gates ?? {},
        // The version's own record, as train makes it (the comparison above was through the serving code).
        metrics: trained.metrics,
        retrained_from: { version: fromVersion, run_id: run.run_id ?? null, trigger: input.trigger },
        ...(classLabels ? { class_labels: classLabels } : {}),
      };
      const reg = await deps.registry.register({
        model: input.model,
        onnx: trained.onnx,
        task,
        manifest: {
          ...TRAINED_CELL_READING,
          metrics: trained.metrics,
          training: record,
          ...(classLabels ? { class_labels: classLabels } : {}),
          run_id: trained.run.run_id,
          dataset_sha256: sha256,
          reference: trained.reference as never,
          description: `retrained from version ${fromVersion} on ${input.data}`,
        },
        policy,
        actor: input.actor,
      });
      await event('retrain.registered', { ...base, candidate_version: reg.version });
      say(`registered ${input.model} version ${reg.version}`);
      let canary: RetrainResult['canary'] = null;
      if (input.canarySteps?.length) {
        if (input.stepInterval) parseDuration(input.stepInterval, 'step interval');
        // Registered is registered: a canary someone started while this one trained leaves the candidate registered, with why its canary did not start.
        const started = await deps.rollouts
          .startCanary({
            model: input.model,
            canary_version: reg.version,
            steps: input.canarySteps,
            ...(input.stepInterval ? { step_interval: input.stepInterval } : {}),
            auto_promote: true,
            actor: input.actor,
          })
          .then(
            () => true,
            (e: unknown) => {
              if (!(e instanceof AppError) || e.code !== 'CONFLICT') throw e;
              warnings.push(`version ${reg.version} is registered, but its canary did not start: ${e.message}`);
              say(`warning: ${warnings[warnings.length - 1]}`);
              return false;
            },
          );
        if (started) {
          canary = { steps: input.canarySteps };
          await event('retrain.canary_started', { ...base, candidate_version: reg.version, steps: input.canarySteps });
          say(`canary of version ${reg.version} started at ${input.canarySteps[0]} % (steps ${input.canarySteps.join(', ')}, automatic analysis, promoted when the last step stays healthy)`);
        }
      }
      const status = canary ? 'canary_started' : 'registered';
      await finish(status, { metrics: base.metrics, gates, ...(warnings.length ? { warnings } : {}) }, reg.version);
      return { ...base, status, candidate_version: reg.version, canary };
    } catch (e) {
      await failed(e);
      throw e;
    } finally {
      await cleanup();
    }
  }

  const planOut = (r: {
    model: string;
    data: string;
    canary_steps: unknown;
    step_interval: string | null;
    min_interval_ms: number;
    max_metric_drop: number;
    created_at: unknown;
    created_by: string;
  }): RetrainPlan => ({
    model: r.model,
    data: r.data,
    canary_steps: fromJson<number[]>(r.canary_steps),
    step_interval: r.step_interval,
    min_interval_ms: Number(r.min_interval_ms),
    max_metric_drop: Number(r.max_metric_drop),
    created_at: new Date(r.created_at as string).toISOString(),
    created_by: r.created_by,
  });

  async function getPlan(model: string): Promise<RetrainPlan | undefined> {
    const r = await k.selectFrom('retrain_plans').selectAll().where('model', '=', model).executeTakeFirst();
    return r ? planOut(r) : undefined;
  }

  /** Runs of a model, newest first; a 'running' one whose process fell silent reads 'lost'. */
  async function runs(model: string, limit = 20) {
    const rows = await k.selectFrom('retrain_runs').selectAll().where('model', '=', model).orderBy('started_at', 'desc').limit(limit).execute();
    return rows.map((r) => {
      const started_at = new Date(r.started_at as string).toISOString();
      const detail = r.detail === null ? null : fromJson(r.detail);
      const run = { ...r, started_at, finished_at: r.finished_at ? new Date(r.finished_at as string).toISOString() : null, detail };
      const lost = r.status === 'running' ? lostDetail(r) : undefined;
      return lost ? { ...run, status: 'lost', detail: lost } : run;
    });
  }

  return {
    retrain,
    getPlan,
    runs,
    async setPlan(input: { model: string; data: string; canarySteps?: number[]; stepInterval?: string; minInterval?: string; maxMetricDrop?: number; actor: string }): Promise<RetrainPlan> {
      // A plan that could only fail (production imported, or none) is refused now, not at its first run.
      await runToRepeat(input.model, undefined, ': a plan retrains production; promote a trained version first');
      // Checked now, over HTTP as from the CLI: a plan is read days later, by another process.
      checkS3Location(input.data, 'data');
      const canarySteps = checkCandidateSettings(input);
      const minInterval = parseDuration(input.minInterval ?? '7d', 'min_interval');
      const row = {
        model: input.model,
        data: input.data,
        canary_steps: JSON.stringify(canarySteps),
        step_interval: input.stepInterval ?? null,
        min_interval_ms: minInterval,
        max_metric_drop: input.maxMetricDrop ?? 0,
        created_at: now(),
        created_by: input.actor,
      };
      await k
        .insertInto('retrain_plans')
        .values(row)
        .onConflict((oc) => oc.column('model').doUpdateSet(row))
        .execute();
      return (await getPlan(input.model))!;
    },
    /**
     * Start a retrain in the background (the console's and the API's Retrain now) and answer once
     * its run is recorded: the run list shows how it goes, and its webhook events say how it
     * ends. Refused first, in words, when it could only fail: a relative or unreadable local
     * file (this process trains it), or a retrain of the model already running anywhere.
     */
    async start(input: Omit<RetrainInput, 'trigger' | 'onStart' | 'onProgress'>): Promise<{ id: string; model: string; status: 'running'; data: string }> {
      await deps.registry.requireModel(input.model);
      checkCandidateSettings(input);
      // This process trains it, so the file must be here now (a plan's may be on another replica).
      if (!input.data.startsWith('s3://') && (await planDataWarning(input.data)))
        throw new AppError('VALIDATION_FAILED', `data: ${input.data} is not a file this server can read; put it there, or give s3://bucket/key`, { field: 'data' });
      // Another replica's (or a CLI's) run is refused when this one's is recorded: see claimRun.
      if (running.has(input.model)) throw busy(input.model);
      running.add(input.model);
      let runId: string | undefined;
      let started: (id: string) => void = () => undefined;
      const recorded = new Promise<string>((resolve) => (started = resolve));
      const job = retrain({
        ...input,
        trigger: 'manual',
        onStart: (id) => {
          runId = id;
          started(id);
        },
      });
      const done = job
        .then((r) => deps.log.info({ model: r.model, status: r.status, candidate: r.candidate_version, run: r.id }, 'retrain finished'))
        // Refused before its run was recorded: the caller's answer says why, nothing to log.
        .catch((e: unknown) => runId && deps.log.error({ model: input.model, run: runId, err: errorMessage(e) }, 'retrain failed'))
        .finally(() => running.delete(input.model));
      pending = Promise.all([pending, done]);
      // Refused before it was recorded (no run record to repeat, a canary in the way): the caller's error.
      const id = await Promise.race([recorded, job.then((r) => r.id)]);
      return { id, model: input.model, status: 'running', data: input.data };
    },
    /** A model's plan (null without one) and its recent runs, newest first; MODEL_NOT_FOUND for a model that does not exist. */
    async status(model: string, limit = 20): Promise<{ model: string; plan: RetrainPlan | null; runs: Awaited<ReturnType<typeof runs>> }> {
      await deps.registry.requireModel(model);
      const [plan, recent] = await Promise.all([getPlan(model), runs(model, limit)]);
      return { model, plan: plan ?? null, runs: recent };
    },
    async removePlan(model: string): Promise<boolean> {
      await deps.registry.requireModel(model);
      const r = await k.deleteFrom('retrain_plans').where('model', '=', model).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    /**
     * Told each report the monitor's leader makes: when it recommends retraining and the model
     * has a plan whose interval has passed since its last retrain, run the plan once, in the
     * background (the monitor goes on with the next model).
     */
    async onReport(report: Report): Promise<'started' | 'no_plan' | 'not_recommended' | 'too_soon' | 'running' | 'canary_running'> {
      const flag = report.alerts.find((a) => a.name === 'retrain_recommended');
      if (!flag?.firing) return 'not_recommended';
      const plan = await getPlan(report.model);
      if (!plan) return 'no_plan';
      if (running.has(report.model)) return 'running';
      // The plan's own runs count: a manual retrain (a person's decision) does not use up its interval.
      const last = (await runs(report.model, 20)).find((r) => r.trigger === 'monitor' && r.status !== 'interrupted');
      if (last && deps.clock.now().getTime() - Date.parse(last.started_at) < plan.min_interval_ms) return 'too_soon';
      // A plan that starts a canary waits for the one running (a previous candidate's, or a person's) to end; the next report looks again.
      const busy = plan.canary_steps.length ? await runningCanary(report.model) : undefined;
      if (busy) {
        deps.log.info({ model: report.model, canary: busy }, 'planned retrain waits for the running canary to end');
        return 'canary_running';
      }
      running.add(report.model);
      const job = retrain({
        model: report.model,
        data: plan.data,
        canarySteps: plan.canary_steps,
        ...(plan.step_interval ? { stepInterval: plan.step_interval } : {}),
        maxMetricDrop: plan.max_metric_drop,
        trigger: 'monitor',
        actor: 'system:retrain-plan',
      })
        .then((r) => deps.log.info({ model: r.model, status: r.status, candidate: r.candidate_version }, 'planned retrain finished'))
        // A person's retrain (or another replica's) is running: the next report looks again.
        .catch((e) =>
          e instanceof AppError && e.code === 'CONFLICT'
            ? deps.log.info({ model: report.model, reason: e.message }, 'planned retrain waits')
            : deps.log.error({ model: report.model, err: errorMessage(e) }, 'planned retrain failed'),
        )
        .finally(() => running.delete(report.model));
      pending = Promise.all([pending, job]);
      return 'started';
    },
    /** Resolves when every retrain started by onReport has finished (tests). */
    idle: () => pending,
    /**
     * Stop every retrain in progress (shutdown, Ctrl-C): a training thread is stopped where it
     * is, a download cut, and each run recorded as 'interrupted' with this reason (a retrain
     * already registering its candidate finishes). Training can take minutes: waiting for it
     * held a server's shutdown past its grace period, so the orchestrator's SIGKILL lost the
     * audit records still queued and left the run 'running' for good.
     */
    async stop(reason: string): Promise<void> {
      if (!stopping.signal.aborted) stopping.abort(new AppError('UNAVAILABLE', reason));
      await Promise.allSettled([...active, pending]);
    },
  };
}

export type RetrainService = ReturnType<typeof createRetrainService>;
