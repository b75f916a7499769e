import pLimit from 'p-limit';
import type { Logger } from '../lib/logger.js';
import { systemClock, type Clock, type Timers } from '../lib/clock.js';
import { startPeriodic, type Periodic } from '../lib/periodic.js';
import { AppError, errorMessage, modelNotFound } from '../lib/errors.js';
import { Servable, type EngineInfo, type RuntimeOptions, type ServableSpec } from './servable.js';
import { CanaryRouter } from './router.js';

/** What the pool needs from the registry; the server wires the real registry in. */
export interface RegistrySource {
  /** A counter bumped by every registry change; cheap to poll. */
  revision(): Promise<number>;
  /** Every model with its aliases (alias → version). */
  aliases(): Promise<{ model: string; aliases: Record<string, number> }[]>;
  /** Traffic plans: canary and shadow per model (none when the model has no rollout). */
  rollouts?(): Promise<RolloutPlan[]>;
  /** Spec and artifact bytes (checksum-verified) of one version; undefined if it does not exist. */
  fetch(model: string, version: number): Promise<{ spec: ServableSpec; bytes: Uint8Array; archived: boolean } | undefined>;
}

export interface PoolEvents {
  loadFailed?(model: string, version: number, error: string): void;
  /** A version loaded: which engine serves it, why, and its memory. */
  loaded?(model: string, version: number, engine: EngineInfo): void;
}

export interface RolloutPlan {
  model: string;
  canary_version: number | null;
  canary_percent: number;
  shadow_version: number | null;
  shadow_percent: number;
  /** Changes with each rollout, so entities are reshuffled between rollouts but never within one. */
  salt: string;
  /** The alias whose traffic the canary shares and is compared with (production unless a slot). */
  target?: string;
}

export type Arm = 'production' | 'canary' | 'pinned';

interface ModelState {
  aliases: Record<string, number>;
  /** What serves unpinned traffic: production's version, or the last one that loaded. */
  production?: Servable;
  canary?: { servable: Servable; percent: number; salt: string; target: string };
  shadow?: { servable: Servable; percent: number; salt: string };
  /** A canary or shadow version the rollout names that did not load here: it gets no traffic until a retry loads it. */
  rolloutsDown?: { arm: 'canary' | 'shadow'; version: number }[];
}

export interface Resolved {
  servable: Servable;
  alias?: string;
  arm: Arm;
  /** A shadow version that should also score a copy of this request (off the request path). */
  shadow?: Servable;
}

export interface PoolOptions {
  source: RegistrySource;
  runtime: RuntimeOptions;
  log: Logger;
  maxLoaded: number;
  events?: PoolEvents;
  /** Time for load-retry backoff and least-recently-used eviction. */
  clock?: Clock;
  /** Timers for the registry poll (tests advance them by hand). */
  timers?: Timers;
}

/** How many versions a process loads at once (see ModelPool.loadSlots). */
export const LOADS_AT_ONCE = 2;

/**
 * The in-memory serving state of one process. Requests read `models` (a Map swapped as a
 * whole) and never wait on the database; `refresh()` follows registry changes, loading a new
 * version fully before pointing traffic at it, so a swap never fails a request. A version
 * that fails to load (corrupt artifact) is reported and the previous one keeps serving.
 */
export class ModelPool {
  private models = new Map<string, ModelState>();
  private readonly loaded = new Map<string, Servable>();
  private readonly loading = new Map<string, Promise<Servable>>();
  /**
   * Versions loading at once. A compiled version's check holds an onnxruntime session until it is
   * done, and the allocator keeps what the sessions used at their peak: 38 copies of a 60-tree
   * forest loaded all at once left the process at 1.24 GB, two at a time at 0.38 GB, and finished
   * sooner (3.2 against 4.9 s), since the compiles and the one check thread cannot go faster anyway.
   */
  private readonly loadSlots = pLimit(LOADS_AT_ONCE);
  private readonly lastUse = new Map<string, number>();
  private readonly failures = new Map<string, string>();
  private seenRevision = -1;
  /** When aliased versions failed to load, retry them (with backoff) even without a change. */
  private retryAt = Infinity;
  private refreshing: Promise<void> | undefined;
  private forced: Promise<void> | undefined;
  private poller: Periodic | undefined;
  initialized = false;

  private readonly router = new CanaryRouter();

  /** Milliseconds now; Date.now itself unless a clock is given (resolve() reads it on every request). */
  private readonly now: () => number;

  constructor(private readonly opts: PoolOptions) {
    const clock = opts.clock;
    this.now = clock && clock !== systemClock ? () => clock.now().getTime() : Date.now;
  }

  private static key(model: string, version: number) {
    return `${model}@${version}`;
  }

  /** Poll the registry every intervalMs (on unref'd timers, so they never hold shutdown). */
  start(intervalMs: number): void {
    this.poller = startPeriodic({
      run: () => this.refresh(),
      intervalMs,
      what: 'registry refresh',
      log: this.opts.log,
      timers: this.opts.timers,
      onError: (e) => this.opts.log.error({ err: errorMessage(e) }, 'registry refresh failed; serving continues on the last known state'),
    });
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
    await this.refreshing?.catch(() => undefined);
    await Promise.all([...this.loaded.values()].map((s) => s.release()));
    this.loaded.clear();
  }

  /**
   * Set while the registry's database cannot be read: since when (ISO) and why. Serving goes on
   * with what is loaded; /readyz and /health say so, and the routes that need the database 503.
   */
  registryUnreachable: { since: string; error: string } | undefined;

  /** Bring serving state up to date with the registry; concurrent calls share one run. */
  refresh(force = false): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh(force)
        .then(
          () => {
            this.registryUnreachable = undefined;
          },
          (e: unknown) => {
            this.registryUnreachable ??= { since: new Date(this.now()).toISOString(), error: errorMessage(e) };
            throw e;
          },
        )
        .finally(() => {
          this.refreshing = undefined;
        });
      return this.refreshing;
    }
    if (!force) return this.refreshing;
    // A forced refresh follows a change the caller just made; the run in flight may have read
    // the registry before it. Run once more after it (forced callers meanwhile share that run).
    if (!this.forced) {
      this.forced = this.refreshing
        .catch(() => undefined)
        .then(() => {
          this.forced = undefined;
          return this.refresh(true);
        });
    }
    return this.forced;
  }

  private async doRefresh(force: boolean): Promise<void> {
    const revision = await this.opts.source.revision();
    if (!force && revision === this.seenRevision && this.now() < this.retryAt) return;
    const [all, plans] = await Promise.all([this.opts.source.aliases(), this.opts.source.rollouts?.() ?? []]);
    const planOf = new Map(plans.map((p) => [p.model, p]));
    const next = new Map<string, ModelState>();
    const tryGet = (model: string, v: number) => this.get(model, v).catch(() => undefined); // get() records failures
    await Promise.all(
      all.map(async ({ model, aliases }) => {
        const state: ModelState = { aliases };
        const plan = planOf.get(model);
        // Slots (blue/green…) are loaded too, so activating one is instant.
        const versions = new Set(Object.values(aliases));
        if (plan?.canary_version != null) versions.add(plan.canary_version);
        if (plan?.shadow_version != null) versions.add(plan.shadow_version);
        const results = new Map<number, Servable>();
        await Promise.all(
          [...versions].map(async (v) => {
            const s = await tryGet(model, v);
            if (s) results.set(v, s);
          }),
        );
        const prodVersion = aliases.production;
        if (prodVersion !== undefined) {
          state.production = results.get(prodVersion) ?? this.models.get(model)?.production;
        }
        // A canary or shadow that failed to load gets no traffic; it is named in /health and retried like production.
        const canary = plan?.canary_version != null ? results.get(plan.canary_version) : undefined;
        if (plan && canary && plan.canary_percent > 0) state.canary = { servable: canary, percent: plan.canary_percent, salt: plan.salt, target: plan.target ?? 'production' };
        const shadow = plan?.shadow_version != null ? results.get(plan.shadow_version) : undefined;
        if (plan && shadow && plan.shadow_percent > 0) state.shadow = { servable: shadow, percent: plan.shadow_percent, salt: `${plan.salt}:shadow` };
        const down = [
          ...(plan?.canary_version != null && !canary ? [{ arm: 'canary' as const, version: plan.canary_version }] : []),
          ...(plan?.shadow_version != null && !shadow ? [{ arm: 'shadow' as const, version: plan.shadow_version }] : []),
        ];
        if (down.length) state.rolloutsDown = down;
        next.set(model, state);
      }),
    );
    this.models = next;
    this.seenRevision = revision;
    const failing = [...next.values()].some((st) => (st.aliases.production !== undefined && st.production?.spec.version !== st.aliases.production) || st.rolloutsDown);
    this.retryAt = failing ? this.now() + 30_000 : Infinity;
    this.initialized = true;
    this.evict();
  }

  /** Loaded servable for a version, loading (and verifying) it on first use. */
  async get(model: string, version: number): Promise<Servable> {
    const key = ModelPool.key(model, version);
    this.lastUse.set(key, this.now());
    const hit = this.loaded.get(key);
    if (hit) return hit;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.loadSlots(() => this.load(model, version)).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async load(model: string, version: number): Promise<Servable> {
    const key = ModelPool.key(model, version);
    try {
      const found = await this.opts.source.fetch(model, version);
      if (!found) throw new AppError('VERSION_NOT_FOUND', `model ${model} has no version ${version}`, { model, version });
      if (found.archived) throw new AppError('CONFLICT', `model ${model} version ${version} is archived and does not serve`, { model, version });
      const servable = await Servable.load(found.bytes, found.spec, this.opts.runtime);
      this.loaded.set(key, servable);
      this.failures.delete(key);
      this.opts.log.info({ model, version, engine: servable.info.engine, memory_bytes: servable.info.memory_bytes }, 'model version loaded');
      this.opts.events?.loaded?.(model, version, servable.info);
      return servable;
    } catch (e) {
      if (e instanceof AppError && (e.code === 'VERSION_NOT_FOUND' || e.code === 'CONFLICT')) throw e;
      this.failures.set(key, errorMessage(e));
      this.opts.events?.loadFailed?.(model, version, errorMessage(e));
      this.opts.log.error({ model, version, err: errorMessage(e) }, 'model version failed to load; previous version keeps serving');
      throw e;
    }
  }

  /** Drop least-recently used versions no alias points at, beyond maxLoaded. */
  private evict(): void {
    const pinned = new Set<string>();
    for (const [model, st] of this.models) {
      for (const v of Object.values(st.aliases)) pinned.add(ModelPool.key(model, v));
      for (const s of [st.production, st.canary?.servable, st.shadow?.servable]) if (s) pinned.add(ModelPool.key(model, s.spec.version));
    }
    const candidates = [...this.loaded.keys()].filter((k) => !pinned.has(k)).sort((a, b) => (this.lastUse.get(a) ?? 0) - (this.lastUse.get(b) ?? 0));
    let excess = this.loaded.size - this.opts.maxLoaded;
    for (const key of candidates) {
      if (excess-- <= 0) break;
      const s = this.loaded.get(key)!;
      this.loaded.delete(key);
      this.lastUse.delete(key);
      void s.release().catch((e) => this.opts.log.warn({ err: errorMessage(e) }, 'release failed'));
    }
  }

  /**
   * The servable for a request: a pinned version or alias, else production — or the canary,
   * for the share of routing keys the rollout sends there. Answered at once, without a promise,
   * for a model this pool already knows and an unpinned request (nearly every one); a promise
   * when a model must be looked up in the registry or a pinned version loaded.
   */
  resolve(model: string, pin: { version?: number; alias?: string; routingKey?: string } = {}): Resolved | Promise<Resolved> {
    const state = this.models.get(model);
    if (!state || pin.version !== undefined || pin.alias !== undefined) return this.resolveSlowly(model, pin);
    return this.route(model, state, pin.routingKey);
  }

  private async resolveSlowly(model: string, pin: { version?: number; alias?: string; routingKey?: string }): Promise<Resolved> {
    let state = this.models.get(model);
    if (!state) {
      // Registered since the last poll? One cheap revision read tells.
      await this.refresh();
      state = this.models.get(model);
    }
    if (!state) throw modelNotFound(model);
    if (pin.version !== undefined) return { servable: await this.get(model, pin.version), arm: 'pinned' };
    if (pin.alias !== undefined) {
      const v = state.aliases[pin.alias];
      if (v === undefined) throw new AppError('NOT_FOUND', `model ${model} has no alias ${pin.alias}; it has ${Object.keys(state.aliases).join(', ') || 'none'}`, { model, alias: pin.alias });
      const servable = await this.get(model, v);
      // A canary competing for a slot (target blue) shares that slot's traffic, which is counted
      // as the arm it is compared with; production's own traffic is not touched.
      const c = pin.alias !== 'production' && state.canary?.target === pin.alias ? state.canary : undefined;
      if (c && this.router.toCanary(c.percent, c.salt, pin.routingKey)) return { servable: c.servable, alias: 'canary', arm: 'canary' };
      return { servable, alias: pin.alias, arm: c ? 'production' : 'pinned' };
    }
    return this.route(model, state, pin.routingKey);
  }

  /** Production or canary (and whether a shadow scores a copy) for an unpinned request. */
  private route(model: string, state: ModelState, routingKey: string | undefined): Resolved {
    if (!state.production) {
      const reason =
        state.aliases.production === undefined
          ? `no version of ${model} is in production; promote one (modelgate promote --model ${model} --version N)`
          : `production version ${state.aliases.production} failed to load; the server log and GET /health say why, and modelgate verify checks the stored artifacts`;
      // The message keeps its first words for clients that match them; the reason says what to do.
      throw new AppError('MODEL_NOT_AVAILABLE', `Model not available: ${reason}`, { model, reason });
    }
    if (state.canary?.target === 'production' && this.router.toCanary(state.canary.percent, state.canary.salt, routingKey)) {
      return { servable: state.canary.servable, alias: 'canary', arm: 'canary' };
    }
    // A shadow is compared with production's answers only: a canary's answer is another version's,
    // and production's own version as its shadow would only agree with itself.
    const shadow =
      state.shadow && state.shadow.servable.spec.version !== state.production.spec.version && this.router.toCanary(state.shadow.percent, state.shadow.salt, routingKey)
        ? state.shadow.servable
        : undefined;
    return { servable: state.production, alias: 'production', arm: 'production', shadow };
  }

  /** Canary percent per model as this process routes it (for metrics). */
  canaryPercents(): { model: string; percent: number }[] {
    return [...this.models].map(([model, st]) => ({ model, percent: st.canary?.percent ?? 0 }));
  }

  /** For health and readiness: each model's production state. */
  status(): { model: string; production?: number; serving?: number; error?: string }[] {
    return [...this.models].map(([model, st]) => {
      const prod = st.aliases.production;
      const error = prod !== undefined && st.production?.spec.version !== prod ? this.failures.get(ModelPool.key(model, prod)) : undefined;
      return { model, production: prod, serving: st.production?.spec.version, ...(error ? { error } : {}) };
    });
  }

  /** For health: canary and shadow versions a running rollout names that did not load here, with why. */
  rolloutsDown(): { model: string; arm: 'canary' | 'shadow'; version: number; error?: string }[] {
    return [...this.models].flatMap(([model, st]) =>
      (st.rolloutsDown ?? []).map(({ arm, version }) => {
        const error = this.failures.get(ModelPool.key(model, version));
        return { model, arm, version, ...(error ? { error } : {}) };
      }),
    );
  }

  loadedVersions(): ({ model: string; version: number; aliases: string[] } & EngineInfo)[] {
    return [...this.loaded.values()].map((s) => {
      const aliases = Object.entries(this.models.get(s.spec.model)?.aliases ?? {})
        .filter(([, v]) => v === s.spec.version)
        .map(([a]) => a);
      return { model: s.spec.model, version: s.spec.version, aliases, ...s.info };
    });
  }
}
