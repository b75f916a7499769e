import { canonicalJson } from '../lib/canonical-json.js';
import { formatDuration, parseDuration } from '../lib/duration.js';
import { AppError } from '../lib/errors.js';
import { analysisSchema, type AnalysisRules } from './analysis.js';
import type { Rollout } from './store.js';

/** A request to start (or re-percent) a canary, as the API and CLI send it. */
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
  /** Start it even when the canary version takes none of the target version's features (else 409). */
  accept_new_inputs?: boolean;
  actor: string;
}

/** The settings of a start request, checked: what the rollout row will hold. */
export interface CanarySettings {
  target: string;
  canaryVersion: number;
  productionVersion: number;
  /** Undefined when neither canary_percent nor steps were given: a running canary keeps its percent. */
  percent: number | undefined;
  steps: number[];
  stepIntervalMs: number;
  minRequests: number | undefined;
  rules: AnalysisRules;
}

export function checkPercent(p: unknown, field: string): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
    throw new AppError('VALIDATION_FAILED', `${field}: expected a percentage from 0 to 100, got ${JSON.stringify(p)}`, { field });
  }
  return p;
}

/** Canary steps: percents above 0 and at most 100, each larger than the one before. */
export function checkSteps(steps: readonly number[], field: string): number[] {
  steps.forEach((s, i) => checkPercent(s, `${field}[${i}]`));
  if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) throw new AppError('VALIDATION_FAILED', `${field}: each step must be larger than the one before, got [${steps.join(', ')}]`, { field });
  if (steps.some((s) => s <= 0)) throw new AppError('VALIDATION_FAILED', `${field}: every step must be above 0`, { field });
  return [...steps];
}

/** The canary version a request names: a number, or the version in the named slot. */
function canaryVersionOf(input: StartCanaryInput, aliases: Record<string, number>): number {
  if (typeof input.canary_version === 'string' && !/^[0-9]+$/.test(input.canary_version)) {
    const slotVersion = aliases[input.canary_version];
    if (slotVersion === undefined) throw new AppError('CONFLICT', `slot ${input.canary_version} of ${input.model} is empty`, { slot: input.canary_version });
    return slotVersion;
  }
  return Number(input.canary_version);
}

/**
 * Check a start request against the model's aliases: which versions compete, the percent and
 * steps, the analysis rules and timing. Whether those versions may serve is the caller's check.
 */
export function canarySettings(input: StartCanaryInput, aliases: Record<string, number>, defaultStepIntervalMs: number): CanarySettings {
  const target = input.target ?? 'production';
  const canaryVersion = canaryVersionOf(input, aliases);
  const productionVersion = aliases[target];
  if (productionVersion === undefined) {
    throw new AppError('CONFLICT', `${input.model} has no ${target} version to compare the canary with; promote one first`, { target });
  }
  // The production arm serves what the alias points at, so that is what the canary is compared
  // with; production_version only makes sure it is the version the caller expects.
  if (input.production_version !== undefined && input.production_version !== productionVersion) {
    throw new AppError(
      'CONFLICT',
      `production_version ${input.production_version} is not the ${target} version of ${input.model} (${productionVersion}): the production arm serves the ${target} version, so the canary is compared with that; leave production_version out, or promote version ${input.production_version} to ${target} first`,
      { target, production_version: productionVersion },
    );
  }
  if (canaryVersion === productionVersion) {
    throw new AppError('CONFLICT', `canary version ${canaryVersion} is already the ${target} version`, { canary_version: canaryVersion });
  }
  const steps = checkSteps(input.steps ?? [], 'steps');
  const percent = input.canary_percent !== undefined ? checkPercent(input.canary_percent, 'canary_percent') : steps.length ? steps[0] : undefined;
  const rules = analysisSchema.safeParse(input.analysis ?? {});
  if (!rules.success) throw new AppError('VALIDATION_FAILED', `analysis: ${rules.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { field: 'analysis' });
  const stepIntervalMs = input.step_interval ? parseDuration(input.step_interval, 'step_interval') : defaultStepIntervalMs;
  if (input.min_requests !== undefined && (!Number.isInteger(input.min_requests) || input.min_requests < 1)) {
    throw new AppError('VALIDATION_FAILED', 'min_requests: expected a positive whole number', { field: 'min_requests' });
  }
  return { target, canaryVersion, productionVersion, percent, steps, stepIntervalMs, minRequests: input.min_requests, rules: rules.data };
}

/** What a start request changes in the running canary, each setting from → to. */
export type SettingChanges = Record<string, { from: unknown; to: unknown }>;

// Key order aside: rules read back from PostgreSQL's jsonb come in another order than parsed ones.
const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/**
 * The running canary `current` with what a start request gives for it: the percent only when
 * canary_percent is given (steps alone keep it), each other setting only when given, each
 * analysis rule only when named (the rest stay as they are). Step times are the caller's.
 */
export function changedSettings(current: Rollout, settings: CanarySettings, input: StartCanaryInput): { next: Rollout; changed: SettingChanges; rulesChanged: boolean } {
  const changed: SettingChanges = {};
  const note = (name: string, from: unknown, to: unknown) => {
    if (!same(from, to)) changed[name] = { from: from ?? null, to: to ?? null };
  };
  const percent = input.canary_percent ?? current.canary_percent;
  note('percent', current.canary_percent, percent);
  const steps = input.steps !== undefined ? settings.steps : current.steps;
  note('steps', current.steps, steps);
  const stepIntervalMs = input.step_interval !== undefined ? settings.stepIntervalMs : current.step_interval_ms;
  if (stepIntervalMs !== current.step_interval_ms) changed.step_interval = { from: formatDuration(current.step_interval_ms), to: formatDuration(stepIntervalMs) };
  const minRequests = settings.minRequests ?? current.min_requests;
  note('min_requests', current.min_requests, minRequests);
  const autoPromote = input.auto_promote ?? current.auto_promote;
  note('auto_promote', current.auto_promote, autoPromote);
  const analysis = mergedRules(current.analysis, input.analysis);
  for (const key of new Set([...Object.keys(current.analysis), ...Object.keys(analysis)]) as Set<keyof AnalysisRules>) {
    if (key !== 'outcomes') note(key, current.analysis[key], analysis[key]);
  }
  const [was, now] = [current.analysis.outcomes ?? {}, analysis.outcomes ?? {}];
  for (const key of new Set([...Object.keys(was), ...Object.keys(now)]) as Set<keyof typeof was>) note(`outcomes.${key}`, was[key], now[key]);
  return {
    next: { ...current, canary_percent: percent, steps, step_interval_ms: stepIntervalMs, min_requests: minRequests, auto_promote: autoPromote, analysis },
    changed,
    rulesChanged: !same(analysis, current.analysis),
  };
}

/** The rules named in a start request over the running canary's (checked by canarySettings already). */
function mergedRules(current: AnalysisRules, given: unknown): AnalysisRules {
  if (given === undefined) return current;
  const named = analysisSchema.partial().parse(given);
  // partial() still fills the outcomes' defaults, so take only the outcome rules really named.
  const namedOutcomes = (given as { outcomes?: Record<string, unknown> }).outcomes;
  const outcomes = namedOutcomes === undefined ? current.outcomes : { ...current.outcomes, ...pick(named.outcomes ?? {}, Object.keys(namedOutcomes)) };
  return analysisSchema.parse({ ...current, ...pick(named, Object.keys(given as object)), outcomes });
}

const pick = <T extends object>(o: T, keys: string[]): Partial<T> => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k))) as Partial<T>;
