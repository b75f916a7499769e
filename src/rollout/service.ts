import type { Clock } from '../lib/clock.js';
import { formatDuration } from '../lib/duration.js';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { bumpRevision } from '../db/index.js';
import type { AliasChange, RegistryService } from '../registry/index.js';
import type { Transaction } from 'kysely';
import type { Database } from '../db/index.js';
import type { EmitEvent } from '../webhooks/index.js';
import type { Rollout, RolloutStore } from './store.js';
import { canarySettings, changedSettings, checkPercent, type CanarySettings, type SettingChanges, type StartCanaryInput } from './canary-request.js';
import { createCanaryEvaluator, judgesOutcomes } from './evaluate.js';
import { checkOutcomeRules, verdictEvidence } from './analysis.js';
import type { Evidence } from './describe-event.js';
import { decisionsDiffer, policyFlag, refuseTakingNone, type Task } from '../inference/index.js';
import { idleRollout, runningCanary, type RunningCanary } from './idle.js';
import { withWebhookEvents } from './webhook-events.js';
import { shadowSummary, statusView } from './status-view.js';
import { canaryRunningError, completesCanary, describeChange, touchesCanary } from './alias-guard.js';

export type { StartCanaryInput } from './canary-request.js';

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

/**
 * The step a percent stands at: the last step at or below it (-1 below the first), so that a
 * percent set by hand between two steps moves on to the step above it, never back down.
 */
export const stepAt = (steps: readonly number[], percent: number): number => steps.filter((s) => s <= percent).length - 1;

/** Thrown inside a canary promotion's transaction when the canary it was decided from has gone. */
class CanaryGone extends Error {}

type Tx = Transaction<Database>;

/**
 * The canary a decision was made about. The analysis names its revision too, so an operator's
 * change of rules or steps since its read voids the decision; a manual promote names the
 * version and step the caller saw.
 */
type Judged = { canary_version: number; step_index: number; canary_revision?: number };
const judged = (r: Judged): Judged => ({ canary_version: r.canary_version, step_index: r.step_index, canary_revision: r.canary_revision });
const isJudged = (r: Rollout, j: Judged) => r.canary_version === j.canary_version && r.step_index === j.step_index && (j.canary_revision === undefined || r.canary_revision === j.canary_revision);
/** Why a canary ended early, as its rollback row records it. */
type Why = { reason: string; trigger_metric?: string; observed?: number; threshold?: number };

export function createRolloutService(deps: RolloutDeps) {
  const { registry, clock, log } = deps;
  const nowIso = () => clock.now().toISOString();
  const store = withWebhookEvents(deps.store, deps.emit);
  const idle = (model: string, base?: Rollout): Rollout => idleRollout(model, deps.defaults, nowIso(), base);

  type VersionOf = Awaited<ReturnType<typeof servableVersion>>;

  async function servableVersion(model: string, version: number, role: string) {
    const v = await registry.getVersion(model, version);
    if (v.status === 'archived') throw new AppError('CONFLICT', `${role} version ${version} of ${model} is archived; mark it active first`, { version });
    return v;
  }

  const listeners: TransitionListener[] = deps.onEvent ? [deps.onEvent] : [];
  const emit = (model: string, event: string) => listeners.forEach((l) => l(model, event));

  /**
   * Store a rollout's new row and its transition event (at the row's updated_at, with its
   * versions and `percent`, by default the canary's), then tell this process's listeners.
   */
  async function putAndRecord(tx: Tx, next: Rollout, event: string, actor: string, details: Record<string, unknown>, percent = next.canary_percent): Promise<void> {
    await store.put(tx, next);
    await store.event(tx, { model: next.model, event, production_version: next.production_version, canary_version: next.canary_version, percent, actor, at: next.updated_at, details });
    emit(next.model, event);
  }

  /** The canary as it is now; `changed` when it was running already (empty when nothing changed). */
  async function startCanary(input: StartCanaryInput): Promise<Rollout & { changed?: SettingChanges; warnings?: string[] }> {
    const model = await registry.getModel(input.model);
    const settings = canarySettings(input, model.aliases, deps.defaults.stepIntervalMs);
    const canaryRow = await servableVersion(input.model, settings.canaryVersion, 'canary');
    const productionRow = await servableVersion(input.model, settings.productionVersion, 'production');
    await refuseMixedTasks(input.model, settings.canaryVersion, settings.productionVersion, 'canary');
    if (!input.accept_new_inputs) refuseNewInputs(input.model, canaryRow, productionRow, settings.target);
    const { task } = await kindOf(input.model, settings.canaryVersion);
    const before = await store.lastCanaryEnd(input.model);

    const r = await store.transaction(async (tx) => {
      await bumpRevision(tx);
      const current = await store.get(input.model, tx);
      const running = runningCanary(current);
      return running ? changeRunning(tx, running, settings, input, task) : begin(tx, current, settings, input, task);
    });
    // A version whose last canary the analysis rolled back: said when it is sent out again.
    if ('changed' in r || before?.event !== 'rollback' || before.canary_version !== settings.canaryVersion) return r;
    const why = typeof before.details?.reason === 'string' ? `: ${before.details.reason}` : '';
    return { ...r, warnings: [`version ${settings.canaryVersion}'s last canary was rolled back automatically at ${before.at}${why}; modelgate canary history --model ${input.model} has every step`] };
  }

  /**
   * A start request for the canary already running changes what it gives (percent, steps,
   * interval, minimum requests, rules, auto-promotion) and keeps the rest, so a deploy job that
   * runs the same start again changes nothing: not the percent the canary has stepped to, nor
   * the time its step has lasted. For another canary it is a conflict.
   */
  async function changeRunning(tx: Tx, current: RunningCanary, settings: CanarySettings, input: StartCanaryInput, task: Task): Promise<Rollout & { changed: SettingChanges }> {
    const { canaryVersion, productionVersion, target } = settings;
    if (current.canary_version === canaryVersion && current.target !== target) {
      throw new AppError(
        'CONFLICT',
        `the running canary of ${input.model} (version ${canaryVersion}) competes for ${current.target}, not ${target}: to change it, name its target (--target ${current.target}, "target": "${current.target}"); to compete for ${target}, stop it first`,
        { running: { canary_version: current.canary_version, target: current.target } },
      );
    }
    if (current.canary_version !== canaryVersion || current.production_version !== productionVersion || current.target !== target) {
      throw new AppError(
        'CONFLICT',
        `a canary of ${input.model} is already running (version ${current.canary_version} at ${current.canary_percent}% against ${current.production_version}${current.target === 'production' ? '' : ` for ${current.target}`}); stop or promote it first`,
        {
          running: { canary_version: current.canary_version, production_version: current.production_version, canary_percent: current.canary_percent, target: current.target },
        },
      );
    }
    const { next, changed, rulesChanged } = changedSettings(current, settings, input);
    // New rules must fit the canary's task; percent moves alone are canary set's, which allows 100 %.
    if (rulesChanged) checkOutcomeRules(next.analysis, task, next.canary_percent);
    if (Object.keys(changed).length === 0) return { ...current, changed };
    const at = nowIso();
    const percentMoved = next.canary_percent !== current.canary_percent;
    const applied: Rollout = {
      ...next,
      step_index: stepAt(next.steps, next.canary_percent),
      step_started_at: percentMoved ? at : current.step_started_at,
      updated_at: at,
      canary_revision: current.canary_revision + 1,
    };
    if (percentMoved && Object.keys(changed).length === 1) await putAndRecord(tx, applied, 'percent', input.actor, { from: current.canary_percent });
    else await putAndRecord(tx, applied, 'change', input.actor, { changed });
    log.info({ model: input.model, canary: canaryVersion, changed, actor: input.actor }, 'canary changed');
    return { ...applied, changed };
  }

  /** Start a canary on a model with none running. */
  async function begin(tx: Tx, current: Rollout | undefined, settings: CanarySettings, input: StartCanaryInput, task: Task): Promise<Rollout> {
    const { target, canaryVersion, productionVersion, percent, steps, stepIntervalMs, minRequests, rules } = settings;
    if (percent === undefined)
      throw new AppError('VALIDATION_FAILED', `canary_percent: is required (or give steps): no canary of ${input.model} is running, so this starts one`, { field: 'canary_percent' });
    checkOutcomeRules(rules, task, percent);
    const at = nowIso();
    const next: Rollout = {
      ...idle(input.model, current),
      target,
      production_version: productionVersion,
      canary_version: canaryVersion,
      canary_percent: percent,
      steps,
      step_index: stepAt(steps, percent),
      step_interval_ms: stepIntervalMs,
      min_requests: minRequests ?? deps.defaults.minRequests,
      analysis: rules,
      auto_promote: input.auto_promote ?? false,
      started_at: at,
      step_started_at: at,
      started_by: input.actor,
      updated_at: at,
      canary_revision: (current?.canary_revision ?? 0) + 1,
    };
    log.info({ model: input.model, canary: canaryVersion, production: productionVersion, percent, actor: input.actor }, 'canary started');
    await putAndRecord(tx, next, 'start', input.actor, { steps, step_interval: formatDuration(stepIntervalMs), analysis: rules, auto_promote: next.auto_promote, target });
    return next;
  }

  async function requireCanary(model: string, tx: Tx): Promise<RunningCanary> {
    const r = runningCanary(await store.get(model, tx));
    if (!r) throw new AppError('CONFLICT', `${model} has no canary running; start one with POST /v1/canary or modelgate canary start`, { model });
    return r;
  }

  async function setPercent(model: string, percent: number, actor: string) {
    await registry.getModel(model);
    checkPercent(percent, 'canary_percent');
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const r = await requireCanary(model, tx);
      // At that percent already: nothing moves, not the step's clock either (a script run twice).
      if (r.canary_percent === percent) return r;
      const at = nowIso();
      const next = { ...r, canary_percent: percent, step_index: stepAt(r.steps, percent), updated_at: at, step_started_at: at, canary_revision: r.canary_revision + 1 };
      await putAndRecord(tx, next, 'percent', actor, { from: r.canary_percent });
      return next;
    });
  }

  /** End the running canary `r` in `tx` as a rollback and record why; false when another change ended it first. */
  async function endCanary(tx: Tx, r: RunningCanary, by: string, why: Why, at: string): Promise<boolean> {
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
    // An automatic rollback is news; a stop by hand was meant (and the CLI that made it says so already).
    if (by === 'system') log.warn({ model: r.model, canary: r.canary_version, by, ...why }, 'canary rolled back');
    else log.info({ model: r.model, canary: r.canary_version, by, ...why }, 'canary stopped');
    emit(r.model, by === 'system' ? 'rollback' : 'stop');
    return true;
  }

  /** End the canary and record why; `by` is `system` for automatic rollbacks. */
  async function rollbackCanary(model: string, by: string, why: Why, expected?: Judged) {
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const r = runningCanary(await store.get(model, tx));
      if (!r) return undefined;
      if (expected && !isJudged(r, expected)) return undefined;
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
    await guardCanary(tx, c);
    await followShadow(tx, c);
  }

  async function guardCanary(tx: Tx, c: AliasChange): Promise<void> {
    const running = runningCanary(await store.get(c.model, tx));
    if (c.expectCanary && (!running || !isJudged(running, c.expectCanary))) throw new CanaryGone();
    if (!running || !touchesCanary(c, running)) return;
    if (completesCanary(c, running)) return completeAsPromotion(tx, c, running);
    if (!c.force) throw canaryRunningError(c, running);
    await endCanary(tx, running, c.actor, { reason: `stopped by ${c.actor} (forced) to ${describeChange(c)}${c.reason ? `: ${c.reason}` : ''}` }, c.at);
  }

  /**
   * A shadow is compared with production's answers, so it follows production: when production
   * becomes the shadow's version (or that version is archived) the shadow has nothing left to
   * compare and ends; when production moves to another version its comparison starts again, so
   * agreement never mixes answers of two production versions.
   */
  async function followShadow(tx: Tx, c: AliasChange): Promise<void> {
    const r = await store.get(c.model, tx);
    if (!r || r.shadow_version === null) return;
    const shadow = r.shadow_version;
    const archived = c.action === 'archive' && c.version === shadow;
    if (!archived && c.alias !== 'production') return;
    if (archived || c.version === shadow) {
      const reason = archived ? `version ${shadow} was archived` : `version ${shadow} is production now (${describeChange(c)})`;
      const next = { ...r, shadow_version: null, shadow_percent: 0, shadow_started_at: null, updated_at: c.at };
      await putAndRecord(tx, next, 'shadow_stop', c.actor, { shadow_version: shadow, reason }, 0);
      log.info({ model: c.model, version: shadow, actor: c.actor, reason }, 'shadow ended');
      return;
    }
    const next = { ...r, shadow_started_at: c.at, updated_at: c.at };
    await putAndRecord(tx, next, 'shadow_restart', c.actor, { shadow_version: shadow, production_version: c.version, from: c.previous }, r.shadow_percent);
  }

  /** The canary's target alias moved to the canary version: the canary ends as promoted. */
  async function completeAsPromotion(tx: Tx, c: AliasChange, running: RunningCanary): Promise<void> {
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
      details: { target: running.target, via, ...(c.evidence ? { evidence: c.evidence } : {}) },
    });
    log.info({ model: c.model, version: running.canary_version, previous: running.production_version, actor: c.actor, via }, 'canary promoted');
    emit(c.model, 'promote');
  }

  /** `canaryVersion`: only if the running canary is this version (the caller judged that one). */
  async function promoteCanary(model: string, opts: { archive_previous?: boolean; canaryVersion?: number; actor: string; evidence?: Evidence }, expected?: Judged) {
    const m = await registry.getModel(model);
    const r = await store.get(model);
    if (!r || r.canary_version === null) {
      // Asked to promote a version its target already serves (a runbook run twice): done already.
      const target = r?.target ?? 'production';
      if (opts.canaryVersion !== undefined && m.aliases[target] === opts.canaryVersion) {
        return { model, alias: target, version: opts.canaryVersion, previous_version: null, already: true as const, aliases: m.aliases };
      }
      const ended =
        opts.canaryVersion !== undefined
          ? `; version ${opts.canaryVersion} is not ${target} (${m.aliases[target] ?? 'none'}), so its canary ended without a promotion: modelgate canary history --model ${model} says how`
          : '';
      throw new AppError('CONFLICT', `${model} has no canary running to promote${ended}`, { model });
    }
    // Checked again in the promotion's transaction (expectCanary below), so a replacement racing this request is refused too.
    if (opts.canaryVersion !== undefined && opts.canaryVersion !== r.canary_version)
      throw new AppError('CONFLICT', `the canary of ${model} is version ${r.canary_version}, not ${opts.canaryVersion}: it was replaced since; nothing promoted`, {
        model,
        canary_version: r.canary_version,
      });
    if (expected && !isJudged(r, expected)) return undefined;
    // One transaction: the alias moves and the guard ends the canary as promoted (once, even
    // if two callers race: the loser finds a different canary state and gives up).
    let moved;
    try {
      moved = await registry.promote({
        model,
        target: r.target,
        version: r.canary_version,
        expectCanary: expected ? judged(expected) : { canary_version: r.canary_version, step_index: r.step_index },
        ...(opts.evidence ? { evidence: opts.evidence } : {}),
        actor: opts.actor,
      });
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
    return {
      model,
      alias: r.target,
      version: r.canary_version,
      previous_version: moved.previous_version,
      ...(archived ? { archived_version: archived } : {}),
      aliases: moved.aliases,
      // The canary's status said it all along; the promotion's answer says it too, as a promote does.
      ...(moved.warnings ? { warnings: moved.warnings } : {}),
    };
  }

  /**
   * A canary of a version that takes none of the target version's features would answer its
   * share of clients with refusals or all-missing scores, and its promotion would do that to
   * all: refused, as the registry refuses promoting it, unless the caller says clients change.
   */
  function refuseNewInputs(model: string, mine: VersionOf, theirs: VersionOf, alias: string) {
    refuseTakingNone(mine.manifest.contract, theirs.manifest.contract, { model, version: mine.version, from: theirs.version, alias, outcome: 'no canary started', retry: 'start the canary' });
  }

  /**
   * A canary or shadow is compared with production answer for answer, and a canary's share of
   * clients gets its answers: both must predict the same kind of thing. Registration keeps a
   * model to one task; versions stored by an earlier release may not be.
   */
  async function refuseMixedTasks(model: string, version: number, production: number, role: 'canary' | 'shadow') {
    const [mine, theirs] = await Promise.all([kindOf(model, version), kindOf(model, production)]);
    if (mine.task === theirs.task) return;
    throw new AppError(
      'CONFLICT',
      `${model} version ${version} is ${mine.task} and production (version ${production}) is ${theirs.task}: a ${role} of another task would ${role === 'canary' ? 'change what its share of clients receives and ' : ''}have nothing to be compared with; register it as a new model`,
      { model, version, task: mine.task, production_version: production, production_task: theirs.task },
    );
  }

  /**
   * Start, change or (version null) stop a model's shadow. For the shadow already running, the
   * percent changes only when given and its comparison goes on (agreement is a rate over the
   * copies so far), so a deploy job that starts the same shadow again does not empty it.
   * Another version replaces it and is compared afresh. `stopped`: a running shadow was stopped
   * (false for a stop with none running, which is no error and records nothing).
   */
  async function setShadow(model: string, version: number | null, percent: number | undefined, actor: string) {
    const production = (await registry.getModel(model)).aliases.production;
    if (version !== null) await servableVersion(model, version, 'shadow');
    if (version !== null && version === production) {
      throw new AppError('CONFLICT', `${model} version ${version} is production: a shadow of it would only be compared with itself; shadow another version`, {
        model,
        version,
        production_version: production,
      });
    }
    if (version !== null && production !== undefined) await refuseMixedTasks(model, version, production, 'shadow');
    if (percent !== undefined) checkPercent(percent, 'percent');
    return store.transaction(async (tx) => {
      await bumpRevision(tx);
      const current = (await store.get(model, tx)) ?? idle(model);
      // As stopCanary: stopping what is not running is no error (a runbook's clean-up step), and changes nothing.
      if (version === null && current.shadow_version === null) return { ...current, stopped: false };
      const at = nowIso();
      if (version !== null && version === current.shadow_version) {
        const to = percent ?? current.shadow_percent;
        if (to === current.shadow_percent) return { ...current, stopped: false };
        const next = { ...current, shadow_percent: to, updated_at: at };
        await putAndRecord(tx, next, 'shadow_percent', actor, { shadow_version: version, from: current.shadow_percent }, to);
        return { ...next, stopped: false };
      }
      const next = { ...current, shadow_version: version, shadow_percent: version === null ? 0 : (percent ?? 100), shadow_started_at: version === null ? null : at, updated_at: at };
      await putAndRecord(tx, next, version === null ? 'shadow_stop' : 'shadow_start', actor, { shadow_version: version ?? current.shadow_version }, next.shadow_percent);
      return { ...next, stopped: version === null };
    });
  }

  const { kindOf, evaluate, feedbackStored, shadowOutcomesOf } = createCanaryEvaluator(deps.store, registry, deps.defaults.minScored, clock);

  async function status(model: string) {
    const m = await registry.getModel(model);
    const r = (await store.get(model)) ?? idle(model);
    const verdict = await evaluate(r, true);
    let shadow: ReturnType<typeof shadowSummary> | null = null;
    if (r.shadow_version !== null) {
      const since = r.shadow_started_at ?? r.updated_at;
      const production = m.aliases.production ?? null;
      const [c, { task }, outcomes] = await Promise.all([
        store.sumStats(model, 'shadow', r.shadow_version, Date.parse(since)),
        kindOf(model, r.shadow_version),
        production === null ? null : shadowOutcomesOf(model, r.shadow_version, production, since),
      ]);
      shadow = shadowSummary(r as Rollout & { shadow_version: number }, c, task, production, outcomes);
    }
    const warnings = (
      await Promise.all([
        r.canary_version !== null && r.production_version !== null ? decisionWarning(model, r.canary_version, m.aliases[r.target] ?? r.production_version, 'canary', r.target) : undefined,
        r.shadow_version !== null && m.aliases.production !== undefined ? decisionWarning(model, r.shadow_version, m.aliases.production, 'shadow', 'production') : undefined,
      ])
    ).filter((w): w is string => w !== undefined);
    // With no canary running, how the last one ended: an automatic rollback happens unwatched.
    const lastCanary = r.canary_version === null ? ((await store.lastCanaryEnd(model)) ?? null) : null;
    return { ...statusView(model, m.aliases, r, verdict, shadow, warnings), last_canary: lastCanary };
  }

  /**
   * A canary or shadow whose policy gives other decisions than the version it is compared with
   * (a retrained version given the default policy, say): the clients a canary answers get
   * decisions they were never given, and decision rates or agreement compare unlike things.
   * A class policy's decisions come from the version's classes: a multiclass canary that
   * predicts a class production never does is said the same way.
   */
  async function decisionWarning(model: string, version: number, production: number, role: 'canary' | 'shadow', target: string): Promise<string | undefined> {
    const [mine, theirs] = await Promise.all([kindOf(model, version), kindOf(model, production)]);
    const differ = decisionsDiffer(mine.policy, theirs.policy, mine.classes, theirs.classes);
    if (!differ) return undefined;
    const missing = differ.missing.join(', ');
    const consequence =
      role === 'canary'
        ? `${differ.added.length ? `the clients the canary answers get decisions ${target} never gives` : `the clients the canary answers never get ${missing}, which ${target} gives`}, and the arms' decision rates compare unlike things`
        : differ.added.length
          ? `its decisions cannot agree with ${target}'s`
          : `it never decides ${missing}, which ${target} does`;
    const flag = policyFlag(theirs.policy);
    return `${role} version ${version} decides ${differ.mine.join(', ')} and ${target} (version ${production}) ${differ.theirs.join(', ')}: ${consequence}${
      flag ? `; a version of it with ${target}'s policy: modelgate policy set --model ${model} --version ${version} --policy ${flag}` : ''
    }`;
  }

  /** Move a healthy canary to its next step; the new percent, or undefined when another change came first. */
  async function advanceStep(r: RunningCanary, evidence: Evidence): Promise<number | undefined> {
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
        details: { step: r.step_index + 2, of: r.steps.length, evidence },
      });
      return true;
    });
    if (!applied) return undefined;
    emit(r.model, 'step');
    return percent;
  }

  /**
   * One analysis pass over every running canary (the leader runs this each interval): roll
   * back a failing canary, advance a healthy one whose step has lasted step_interval, promote
   * at the last step when auto_promote is set. Every transition is conditional on the state
   * it was decided from, so a pass that overlaps another applies nothing twice.
   */
  async function analyzeAll(): Promise<{ model: string; action: string; detail?: unknown }[]> {
    const actions: { model: string; action: string; detail?: unknown }[] = [];
    for (const row of await store.list()) {
      const r = runningCanary(row);
      if (!r) continue;
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
      if (r.step_index < r.steps.length - 1) {
        const percent = await advanceStep(r, verdictEvidence(verdict));
        if (percent !== undefined) actions.push({ model: r.model, action: 'step', detail: { percent } });
      } else if (r.auto_promote) {
        const done = await promoteCanary(r.model, { actor: 'system', evidence: verdictEvidence(verdict) }, r);
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
    /** Feedback for these models was stored by this process: a canary's outcomes are read afresh. */
    feedbackStored,
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
