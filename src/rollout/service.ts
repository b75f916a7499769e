import type { Clock } from '../lib/clock.js';
import { parseDuration, formatDuration } from '../lib/duration.js';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { bumpRevision } from '../db/index.js';
import type { AliasChange, RegistryService } from '../registry/index.js';
import type { Transaction } from 'kysely';
import type { Database } from '../db/index.js';
import { analyse, analysisSchema, type Verdict } from './analysis.js';
import type { EmitEvent, EventType } from '../webhooks/index.js';
import type { Rollout, RolloutStore } from './store.js';
import { summarize } from './stats.js';
import { armOutcomes, type ArmOutcomes } from './outcomes.js';
import type { Policy, Task } from '../inference/index.js';

export interface StartCanaryInput {
  model: string;
  /** A version number, or a slot name whose version becomes the canary. */
  canary_version: number | string;
  production_version?: number;
  canary_percent?: number;
  steps?: number[];
  step_interval?: string;
  min_requests?: number;
  analysis?: unknown;
  auto_promote?: boolean;
  /** Alias the canary competes for and fills on promotion: production (default) or a slot. */
  target?: string;
  actor: string;
}

export interface TransitionListener {
  (model: string, event: string): void;
}

export interface RolloutDeps {
  store: RolloutStore;
  registry: RegistryService;
  clock: Clock;
  log: Logger;
  onEvent?: TransitionListener;
  defaults: { stepIntervalMs: number; minRequests: number; minScored: number };
  /** Webhook outbox, written in the transaction of each transition. */
  emit?: EmitEvent;
}

/** Which rollout transitions are webhook events (a manual stop is a rollback by its actor). */
const WEBHOOK_EVENT: Record<string, EventType | undefined> = {
  start: 'rollout.started',
  step: 'rollout.step',
  rollback: 'rollout.rolled_back',
  stop: 'rollout.rolled_back',
  promote: 'rollout.promoted',
};

const DEFAULT_RULES = analysisSchema.parse({});

/** Thrown inside a canary promotion's transaction when the canary it was decided from has gone. */
class CanaryGone extends Error {}

const describeChange = (c: AliasChange): string => {
  switch (c.action) {
    case 'archive':
      return `archive version ${c.version}`;
    case 'rollback':
      return `roll ${c.alias} back to version ${c.version}`;
    case 'activate':
      return `activate a slot, pointing ${c.alias} at version ${c.version}`;
    default:
      return `promote version ${c.version} to ${c.alias}`;
  }
};

export function createRolloutService(deps: RolloutDeps) {
  const { registry, clock, log } = deps;
  const nowIso = () => clock.now().toISOString();
  // Every transition is stored as a rollout event and, when it is one subscribers hear of, in the webhook outbox, in one transaction.
  const store: RolloutStore = {
    ...deps.store,
    async event(tx, e) {
      await deps.store.event(tx, e);
      const type = WEBHOOK_EVENT[e.event];
      if (type && deps.emit) {
        await deps.emit(
          tx,
          type,
          { model: e.model, transition: e.event, production_version: e.production_version, canary_version: e.canary_version, percent: e.percent, actor: e.actor, details: e.details ?? {} },
          e.at,
        );
      }
    },
  };

  const idle = (model: string, base?: Rollout): Rollout => ({
    model,
    target: base?.target ?? 'production',
    production_version: base?.production_version ?? null,
    canary_version: null,
    canary_percent: 0,
    steps: [],
    step_index: -1,
    step_interval_ms: deps.defaults.stepIntervalMs,
    min_requests: deps.defaults.minRequests,
    analysis: DEFAULT_RULES,
    auto_promote: false,
    shadow_version: base?.shadow_version ?? null,
    shadow_percent: base?.shadow_percent ?? 0,
    shadow_started_at: base?.shadow_started_at ?? null,
    started_at: null,
    step_started_at: null,
    started_by: null,
    updated_at: nowIso(),
  });

  const checkPercent = (p: unknown, field: string): number => {
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
      throw new AppError('VALIDATION_FAILED', `${field}: expected a percentage from 0 to 100, got ${JSON.stringify(p)}`, { field });
    }
    return p;
  };

  async function servableVersion(model: string, version: number, role: string) {
    const v = await registry.getVersion(model, version);
    if (v.status === 'archived') throw new AppError('CONFLICT', `${role} version ${version} of ${model} is archived; mark it active first`, { version });
    return v;
  }

  const listeners: TransitionListener[] = deps.onEvent ? [deps.onEvent] : [];
  const emit = (model: string, event: string) => listeners.forEach((l) => l(model, event));

  async function startCanary(input: StartCanaryInput) {
    const model = await registry.getModel(input.model);
    const target = input.target ?? 'production';
    let canaryVersion: number;
    if (typeof input.canary_version === 'string' && !/^[0-9]+$/.test(input.canary_version)) {
      const slotVersion = model.aliases[input.canary_version];
      if (slotVersion === undefined) throw new AppError('CONFLICT', `slot ${input.canary_version} of ${input.model} is empty`, { slot: input.canary_version });
      canaryVersion = slotVersion;
    } else canaryVersion = Number(input.canary_version);
    const productionVersion = input.production_version ?? model.aliases[target];
    if (productionVersion === undefined) {
      throw new AppError('CONFLICT', `${input.model} has no ${target} version to compare the canary with; promote one first`, { target });
    }
    await servableVersion(input.model, canaryVersion, 'canary');
    await servableVersion(input.model, productionVersion, 'production');
    if (canaryVersion === productionVersion) {
      throw new AppError('CONFLICT', `canary version ${canaryVersion} is already the ${target} version`, { canary_version: canaryVersion });
    }
    const steps = input.steps ?? [];
    steps.forEach((s, i) => checkPercent(s, `steps[${i}]`));
    if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) throw new AppError('VALIDATION_FAILED', `steps: each step must be larger than the one before, got [${steps.join(', ')}]`, { field: 'steps' });
    if (steps.some((s) => s <= 0)) throw new AppError('VALIDATION_FAILED', 'steps: every step must be above 0', { field: 'steps' });
    const percent = input.canary_percent !== undefined ? checkPercent(input.canary_percent, 'canary_percent') : steps.length ? steps[0] : undefined;
    if (percent === undefined) throw new AppError('VALIDATION_FAILED', 'canary_percent: is required (or give steps)', { field: 'canary_percent' });
    const rules = analysisSchema.safeParse(input.analysis ?? {});
    if (!rules.success) throw new AppError('VALIDATION_FAILED', `analysis: ${rules.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { field: 'analysis' });
    const stepInterval = input.step_interval ? parseDuration(input.step_interval, 'step_interval') : deps.defaults.stepIntervalMs;
    if (input.min_requests !== undefined && (!Number.isInteger(input.min_requests) || input.min_requests < 1)) {
      throw new AppError('VALIDATION_FAILED', 'min_requests: expected a positive whole number', { field: 'min_requests' });
    }

    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const current = await store.get(input.model, tx);
      const at = nowIso();
      if (current?.canary_version != null) {
        if (current.canary_version !== canaryVersion || current.production_version !== productionVersion) {
          throw new AppError(
            'CONFLICT',
            `a canary of ${input.model} is already running (version ${current.canary_version} at ${current.canary_percent}% against ${current.production_version}); stop or promote it first`,
            {
              running: { canary_version: current.canary_version, production_version: current.production_version, canary_percent: current.canary_percent },
            },
          );
        }
        // Same canary: this call changes its percent (and any settings given).
        const next: Rollout = { ...current, canary_percent: percent, updated_at: at, step_index: steps.length ? current.step_index : -1, ...(input.steps ? { steps } : {}) };
        await store.put(tx, next);
        await store.event(tx, {
          model: input.model,
          event: 'percent',
          production_version: productionVersion,
          canary_version: canaryVersion,
          percent,
          actor: input.actor,
          at,
          details: { from: current.canary_percent },
        });
        emit(input.model, 'percent');
        return next;
      }
      const next: Rollout = {
        ...idle(input.model, current),
        target,
        production_version: productionVersion,
        canary_version: canaryVersion,
        canary_percent: percent,
        steps,
        step_index: steps.length ? Math.max(0, steps.indexOf(percent)) : -1,
        step_interval_ms: stepInterval,
        min_requests: input.min_requests ?? deps.defaults.minRequests,
        analysis: rules.data,
        auto_promote: input.auto_promote ?? false,
        started_at: at,
        step_started_at: at,
        started_by: input.actor,
      };
      await store.put(tx, next);
      await store.event(tx, {
        model: input.model,
        event: 'start',
        production_version: productionVersion,
        canary_version: canaryVersion,
        percent,
        actor: input.actor,
        at,
        details: { steps, step_interval: formatDuration(stepInterval), analysis: rules.data, auto_promote: next.auto_promote, target },
      });
      log.info({ model: input.model, canary: canaryVersion, production: productionVersion, percent, actor: input.actor }, 'canary started');
      emit(input.model, 'start');
      return next;
    });
  }

  async function requireCanary(model: string, tx: Parameters<Parameters<RolloutStore['transaction']>[0]>[0]) {
    const r = await store.get(model, tx);
    if (!r || r.canary_version === null) throw new AppError('CONFLICT', `${model} has no canary running; start one with POST /v1/canary or modelgate canary start`, { model });
    return r as Rollout & { canary_version: number };
  }

  async function setPercent(model: string, percent: number, actor: string) {
    await registry.getModel(model);
    checkPercent(percent, 'canary_percent');
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const r = await requireCanary(model, tx);
      const at = nowIso();
      const next = { ...r, canary_percent: percent, step_index: r.steps.indexOf(percent), updated_at: at, step_started_at: at };
      await store.put(tx, next);
      await store.event(tx, { model, event: 'percent', production_version: r.production_version, canary_version: r.canary_version, percent, actor, at, details: { from: r.canary_percent } });
      emit(model, 'percent');
      return next;
    });
  }

  type Tx = Transaction<Database>;
  type Why = { reason: string; trigger_metric?: string; observed?: number; threshold?: number };

  /** End the running canary `r` in `tx` as a rollback and record why; false when another change ended it first. */
  async function endCanary(tx: Tx, r: Rollout & { canary_version: number }, by: string, why: Why, at: string): Promise<boolean> {
    if (!(await store.compareAndSet(tx, r, { ...idle(r.model, r), updated_at: at }))) return false;
    await store.rollback(tx, {
      model: r.model,
      canary_version: r.canary_version,
      production_version: r.production_version,
      reason: why.reason,
      trigger_metric: why.trigger_metric ?? null,
      observed: why.observed ?? null,
      threshold: why.threshold ?? null,
      rolled_back_by: by,
      at,
    });
    await store.event(tx, {
      model: r.model,
      event: by === 'system' ? 'rollback' : 'stop',
      production_version: r.production_version,
      canary_version: r.canary_version,
      percent: 0,
      actor: by,
      at,
      details: why,
    });
    log.warn({ model: r.model, canary: r.canary_version, by, ...why }, 'canary rolled back');
    emit(r.model, by === 'system' ? 'rollback' : 'stop');
    return true;
  }

  /** End the canary and record why; `by` is `system` for automatic rollbacks. */
  async function rollbackCanary(model: string, by: string, why: Why, expected?: Pick<Rollout, 'canary_version' | 'step_index'>) {
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const found = await store.get(model, tx);
      if (!found || found.canary_version === null) return undefined;
      const r = found as Rollout & { canary_version: number };
      if (expected && (expected.canary_version !== r.canary_version || expected.step_index !== r.step_index)) return undefined;
      if (!(await endCanary(tx, r, by, why, nowIso()))) return undefined;
      return { model, stopped: true, canary_version: r.canary_version, production_version: r.production_version, rolled_back_by: by, ...why };
    });
  }

  /**
   * Stop the canary by hand (a rollback row names the actor and the reason given). With no
   * canary running this is not an error: runbooks stop a canary after promoting it, and the
   * answer says which version serves.
   */
  async function stopCanary(model: string, actor: string, reason?: string) {
    const m = await registry.getModel(model);
    const r = await store.get(model);
    if (!r || r.canary_version === null) {
      const target = r?.target ?? 'production';
      return { model, stopped: false, canary_version: null, production_version: m.aliases[target] ?? null, message: `${model} has no canary running; nothing to stop` };
    }
    const done = await rollbackCanary(model, actor, { reason: `stopped by ${actor}${reason ? `: ${reason}` : ''}` });
    if (done) return done;
    // Ended meanwhile (promoted, rolled back): say what serves now.
    return stopCanary(model, actor, reason);
  }

  /**
   * The canary's say on an alias change (the registry's guard, inside the change's
   * transaction), so a rollout never compares against a version that no longer serves:
   * moving the canary's target alias to the canary version completes the canary as a
   * promotion; any other move of that alias, or archiving the canary version, is refused with
   * CANARY_RUNNING unless forced, and a forced change stops the canary first, recording why.
   */
  async function guardAliasChange(tx: Tx, c: AliasChange): Promise<void> {
    const r = await store.get(c.model, tx);
    const running = r && r.canary_version !== null ? (r as Rollout & { canary_version: number }) : undefined;
    if (c.expectCanary && (!running || running.canary_version !== c.expectCanary.canary_version || running.step_index !== c.expectCanary.step_index)) throw new CanaryGone();
    if (!running) return;
    const touches = c.action === 'archive' ? c.version === running.canary_version : c.alias === running.target;
    if (!touches) return;
    // A rollback means undo, even when it lands on the canary version: it never completes a canary.
    if ((c.action === 'set' || c.action === 'activate') && c.version === running.canary_version) {
      if (!(await store.compareAndSet(tx, running, { ...idle(c.model, running), production_version: running.canary_version, updated_at: c.at }))) throw new CanaryGone();
      const via = c.expectCanary ? 'canary promote' : c.action === 'set' ? 'promote' : 'activate';
      await store.event(tx, {
        model: c.model,
        event: 'promote',
        production_version: running.production_version,
        canary_version: running.canary_version,
        percent: 100,
        actor: c.actor,
        at: c.at,
        details: { target: running.target, via },
      });
      log.info({ model: c.model, version: running.canary_version, previous: running.production_version, actor: c.actor, via }, 'canary promoted');
      emit(c.model, 'promote');
      return;
    }
    const what = describeChange(c);
    if (!c.force) {
      throw new AppError(
        'CANARY_RUNNING',
        `cannot ${what}: a canary of ${c.model} is running (version ${running.canary_version} at ${running.canary_percent}% against ${running.target} version ${running.production_version}). ` +
          `Stop it (modelgate canary stop --model ${c.model}), promote it (modelgate canary promote --model ${c.model}), or repeat with --force (HTTP: "force": true) to stop it first.`,
        {
          canary: {
            canary_version: running.canary_version,
            production_version: running.production_version,
            canary_percent: running.canary_percent,
            target: running.target,
            started_by: running.started_by,
          },
          ways_out: [`POST /v1/canary/${c.model}/stop`, `POST /v1/canary/${c.model}/promote`, 'the same request with force: true'],
        },
      );
    }
    await endCanary(tx, running, c.actor, { reason: `stopped by ${c.actor} (forced) to ${what}${c.reason ? `: ${c.reason}` : ''}` }, c.at);
  }

  async function promoteCanary(model: string, opts: { archive_previous?: boolean; actor: string }, expected?: Pick<Rollout, 'canary_version' | 'step_index'>) {
    await registry.getModel(model);
    const r = await store.get(model);
    if (!r || r.canary_version === null) throw new AppError('CONFLICT', `${model} has no canary running to promote`, { model });
    if (expected && (expected.canary_version !== r.canary_version || expected.step_index !== r.step_index)) return undefined;
    // One transaction: the alias moves and the guard ends the canary as promoted (once, even
    // if two callers race: the loser finds a different canary state and gives up).
    let moved;
    try {
      moved = await registry.promote({ model, target: r.target, version: r.canary_version, expectCanary: { canary_version: r.canary_version, step_index: r.step_index }, actor: opts.actor });
    } catch (e) {
      if (!(e instanceof CanaryGone)) throw e;
      if (expected) return undefined;
      throw new AppError('CONFLICT', `the canary of ${model} ended while this request ran (promoted or stopped by another request); modelgate canary status --model ${model} shows what serves`, {
        model,
      });
    }
    if (!('alias' in moved)) return undefined;
    let archived: number | undefined;
    if (opts.archive_previous && r.production_version !== null && r.production_version !== r.canary_version) {
      await registry.promote({ model, target: 'archived', version: r.production_version, actor: opts.actor });
      archived = r.production_version;
    }
    return { model, alias: r.target, version: r.canary_version, previous_version: moved.previous_version, ...(archived ? { archived_version: archived } : {}), aliases: moved.aliases };
  }

  async function setShadow(model: string, version: number | null, percent: number, actor: string) {
    await registry.getModel(model);
    if (version !== null) await servableVersion(model, version, 'shadow');
    checkPercent(percent, 'percent');
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const current = (await store.get(model, tx)) ?? idle(model);
      if (version === null && current.shadow_version === null) throw new AppError('CONFLICT', `${model} has no shadow running`, { model });
      const at = nowIso();
      const next = { ...current, shadow_version: version, shadow_percent: version === null ? 0 : percent, shadow_started_at: version === null ? null : at, updated_at: at };
      await store.put(tx, next);
      const event = version === null ? 'shadow_stop' : 'shadow_start';
      await store.event(tx, {
        model,
        event,
        production_version: current.production_version,
        canary_version: current.canary_version,
        percent: next.shadow_percent,
        actor,
        at,
        details: { shadow_version: version ?? current.shadow_version },
      });
      emit(model, event);
      return next;
    });
  }

  /** A version's task and policy (versions are immutable, so each is read once). */
  const kinds = new Map<string, Promise<{ task: Task; policy: Policy }>>();
  const kindOf = (model: string, version: number) => {
    const key = `${model}@${version}`;
    let k = kinds.get(key);
    if (!k) {
      k = registry.getVersion(model, version).then((v) => ({ task: v.task, policy: v.manifest.policy }));
      k.catch(() => kinds.delete(key));
      kinds.set(key, k);
    }
    return k;
  };

  /** Whether a canary's rules judge outcomes from feedback (only then does each analysis pass read them). */
  const judgesOutcomes = (r: Rollout) => !!r.analysis.outcomes || (r.analysis.custom ?? []).some((c) => c.metric.startsWith('outcome:'));

  /**
   * Analysis of the current step window: cluster-wide counts per arm, the verdict, and with
   * `withOutcomes` each arm's outcomes from feedback (a join over the window's predictions: the
   * status shows them; an analysis pass reads them only when a rule needs them).
   */
  async function evaluate(r: Rollout, withOutcomes: boolean): Promise<Verdict | undefined> {
    if (r.canary_version === null || r.production_version === null || !r.step_started_at) return undefined;
    const since = Date.parse(r.step_started_at);
    const [prod, canary, prodKind, canaryKind] = await Promise.all([
      store.sumStats(r.model, 'production', r.production_version, since),
      store.sumStats(r.model, 'canary', r.canary_version, since),
      kindOf(r.model, r.production_version),
      kindOf(r.model, r.canary_version),
    ]);
    let outcomes: { production: ArmOutcomes; canary: ArmOutcomes } | undefined;
    if (withOutcomes) {
      const [prodRows, canaryRows] = await Promise.all([
        store.outcomes(r.model, 'production', r.production_version, r.step_started_at),
        store.outcomes(r.model, 'canary', r.canary_version, r.step_started_at),
      ]);
      outcomes = { production: armOutcomes(prodKind.task, prodKind.policy, prodRows), canary: armOutcomes(canaryKind.task, canaryKind.policy, canaryRows) };
    }
    return analyse({ version: r.production_version, counts: prod }, { version: r.canary_version, counts: canary }, r.analysis, {
      minRequests: r.min_requests,
      minScored: deps.defaults.minScored,
      canaryPercent: r.canary_percent,
      task: canaryKind.task,
      ...(outcomes ? { outcomes } : {}),
    });
  }

  async function status(model: string) {
    const m = await registry.getModel(model);
    const r = (await store.get(model)) ?? idle(model);
    const verdict = await evaluate(r, true);
    let shadow: Record<string, unknown> | null = null;
    if (r.shadow_version !== null) {
      const c = await store.sumStats(model, 'shadow', r.shadow_version, Date.parse(r.shadow_started_at ?? r.updated_at));
      const { task } = await kindOf(model, r.shadow_version);
      const share = (n: number) => (c.compared ? n / c.compared : null);
      shadow = {
        ...summarize(r.shadow_version, c),
        percent: r.shadow_percent,
        started_at: r.shadow_started_at,
        compared: c.compared,
        // What agreement means follows the task: the class for multiclass, the decision otherwise.
        ...(task === 'multiclass' ? { label_agreement: share(c.agreed) } : { decision_agreement: share(c.agreed) }),
        ...(task === 'regression' ? { mean_relative_error: share(c.abs_diff) } : { mean_abs_score_diff: share(c.abs_diff) }),
      };
    }
    return {
      model,
      target: r.target,
      // The alias is what serves (the guard keeps it equal to the compared version while a canary runs).
      production_version: m.aliases[r.target] ?? null,
      canary_version: r.canary_version,
      canary_percent: r.canary_percent,
      steps: r.steps,
      step: r.step_index >= 0 ? r.step_index + 1 : null,
      step_interval: formatDuration(r.step_interval_ms),
      step_started_at: r.step_started_at,
      min_requests: r.min_requests,
      auto_promote: r.auto_promote,
      analysis: r.analysis,
      started_at: r.started_at,
      started_by: r.started_by,
      arms: verdict ? { production: verdict.production, canary: verdict.canary } : null,
      outcomes: verdict?.outcomes ?? null,
      verdict: verdict
        ? { status: verdict.status, ...(verdict.reason ? { reason: verdict.reason } : {}), score_psi: verdict.score_psi, checks: verdict.checks, ...(verdict.failed ? { failed: verdict.failed } : {}) }
        : null,
      shadow,
    };
  }

  /**
   * One analysis pass over every running canary (the leader runs this each interval): roll
   * back a failing canary, advance a healthy one whose step has lasted step_interval, promote
   * at the last step when auto_promote is set. Every transition is conditional on the state
   * it was decided from, so a pass that overlaps another applies nothing twice.
   */
  async function analyzeAll(): Promise<{ model: string; action: string; detail?: unknown }[]> {
    const actions: { model: string; action: string; detail?: unknown }[] = [];
    for (const r of await store.list()) {
      if (r.canary_version === null) continue;
      const verdict = await evaluate(r, judgesOutcomes(r));
      if (!verdict) continue;
      if (verdict.status === 'failing' && verdict.failed) {
        const f = verdict.failed;
        const done = await rollbackCanary(r.model, 'system', { reason: f.detail, trigger_metric: f.metric, observed: f.observed, threshold: f.threshold }, r);
        if (done) actions.push({ model: r.model, action: 'rollback', detail: f });
        continue;
      }
      if (verdict.status !== 'healthy' || r.steps.length === 0) continue;
      const elapsed = clock.now().getTime() - Date.parse(r.step_started_at!);
      if (elapsed < r.step_interval_ms) continue;
      const last = r.step_index >= r.steps.length - 1;
      if (!last) {
        const percent = r.steps[r.step_index + 1];
        const at = nowIso();
        const next = { ...r, canary_percent: percent, step_index: r.step_index + 1, step_started_at: at, updated_at: at };
        const applied = await store.transaction(async (tx) => {
          await bumpRevision(tx);
          if (!(await store.compareAndSet(tx, r, next))) return false;
          await store.event(tx, {
            model: r.model,
            event: 'step',
            production_version: r.production_version,
            canary_version: r.canary_version,
            percent,
            actor: 'system',
            at,
            details: { step: r.step_index + 2, of: r.steps.length },
          });
          return true;
        });
        if (applied) {
          emit(r.model, 'step');
          actions.push({ model: r.model, action: 'step', detail: { percent } });
        }
      } else if (r.auto_promote) {
        const done = await promoteCanary(r.model, { actor: 'system' }, r);
        if (done) actions.push({ model: r.model, action: 'promote', detail: { version: r.canary_version } });
      }
    }
    return actions;
  }

  return {
    startCanary,
    setPercent,
    stopCanary,
    promoteCanary,
    guardAliasChange,
    setShadow,
    status,
    analyzeAll,
    rollbacks: (model: string | undefined, limit = 100) => store.rollbacks(model, limit),
    countRollbacks: (model: string | undefined) => store.countRollbacks(model),
    events: (model: string, limit = 100) => store.events(model, limit),
    list: () => store.list(),
    /** Be told of every transition this process applies (metrics). */
    onTransition: (l: TransitionListener) => listeners.push(l),
    store,
  };
}

export type RolloutService = ReturnType<typeof createRolloutService>;
