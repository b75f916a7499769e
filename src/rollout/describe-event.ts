/** One rollout transition, as GET /v1/canary/:model/events returns it. */
export interface RolloutEvent {
  event: string;
  production_version: number | null;
  canary_version: number | null;
  percent: number | null;
  actor: string;
  at: string;
  details: Record<string, unknown> | null;
}

/** What an automatic step or promotion was judged on, kept with its rollout event: each arm's counts and every check. */
/* Shared with the console, so it lives here and not with the analysis. */
export interface Evidence extends Record<string, unknown> {
  production: { requests: number; scored: number; error_rate: number; p95_ms: number | null; labelled?: number };
  canary: { requests: number; scored: number; error_rate: number; p95_ms: number | null; labelled?: number };
  checks: { metric: string; observed: number; threshold: number }[];
}

/** A transition in words: what moved, between which versions. */
export function describeRolloutEvent(e: RolloutEvent): string {
  const d = e.details ?? {};
  const canary = `canary v${e.canary_version ?? '?'}`;
  const against = e.production_version !== null ? ` against v${e.production_version}` : '';
  switch (e.event) {
    case 'start':
      return `${canary} started at ${e.percent}%${against}${Array.isArray(d.steps) && d.steps.length ? `, steps ${d.steps.join(', ')}%` : ''}`;
    case 'step':
      return `${canary} stepped to ${e.percent}% (step ${String(d.step)} of ${String(d.of)})${judgedOn(d.evidence)}`;
    case 'percent':
      return `${canary} set from ${String(d.from)}% to ${e.percent}%`;
    case 'change':
      return `${canary} changed: ${describeChanges(d.changed)}`;
    case 'promote':
      return `${canary} promoted to ${typeof d.target === 'string' ? d.target : 'production'}${e.production_version !== null ? ` (was v${e.production_version})` : ''}${judgedOn(d.evidence)}`;
    case 'rollback':
      return `${canary} rolled back automatically${typeof d.reason === 'string' ? `: ${d.reason}` : ''}`;
    case 'stop':
      // A manual stop's reason already says "stopped by …": not "stopped: stopped by".
      return typeof d.reason === 'string' ? (d.reason.startsWith('stopped ') ? `${canary} ${d.reason}` : `${canary} stopped: ${d.reason}`) : `${canary} stopped`;
    case 'shadow_start':
      return `shadow v${String(d.shadow_version)} started at ${e.percent}%`;
    case 'shadow_percent':
      return `shadow v${String(d.shadow_version)} set from ${String(d.from)}% to ${e.percent}%`;
    case 'shadow_stop':
      return `shadow v${String(d.shadow_version)} stopped${typeof d.reason === 'string' ? `: ${d.reason}` : ''}`;
    case 'shadow_restart':
      return `shadow v${String(d.shadow_version)} compared afresh: production moved to v${String(d.production_version)}`;
    default:
      return e.event;
  }
}

const count = (n: number) => n.toLocaleString('en-US');
const short = (x: number) => (Number.isInteger(x) ? String(x) : Number(x.toPrecision(3)).toString());

/** What an automatic step or promotion was judged on (its event's evidence), or nothing for a manual one. */
function judgedOn(evidence: unknown): string {
  if (!evidence || typeof evidence !== 'object') return '';
  const { production: p, canary: c, checks } = evidence as Evidence;
  const labelled = c.labelled !== undefined && p.labelled !== undefined ? ` (${count(c.labelled)} and ${count(p.labelled)} labelled)` : '';
  const passed = checks.map((x) => `${x.metric} ${short(x.observed)} (limit ${short(x.threshold)})`).join(', ');
  return `, judged on ${count(c.scored)} canary and ${count(p.scored)} production model-scored requests${labelled}${passed ? `: ${passed}` : ''}`;
}

/**
 * How a rollout ended, with who and when ("canary v2 rolled back automatically: … (system, 3:21 AM)"),
 * naming the actor only once: a manual stop's words say "stopped by ops" already.
 */
export function describeEnding(e: RolloutEvent, at: string): string {
  const what = describeRolloutEvent(e);
  return `${what} (${what.includes(`by ${e.actor}`) ? '' : `${e.actor}, `}${at})`;
}

/** "percent 10% → 25%, max_error_ratio 1.5 → 1.2": a start request's changes to the running canary. */
export function describeChanges(changed: unknown): string {
  if (!changed || typeof changed !== 'object') return 'settings';
  return Object.entries(changed as Record<string, { from: unknown; to: unknown }>)
    .map(([name, { from, to }]) => `${name} ${settingValue(name, from)} → ${settingValue(name, to)}`)
    .join(', ');
}

function settingValue(name: string, v: unknown): string {
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return 'none';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return v.every((x) => typeof x === 'number') ? `${v.join(', ')}%` : JSON.stringify(v);
  return name === 'percent' ? `${String(v)}%` : String(v);
}
