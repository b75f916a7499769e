import { actionDecisions, type Policy } from '../inference/index.js';

/** A rate this many times the other (either way), and this many points apart, is said: smaller moves are a retrain's usual drift. */
const FACTOR = 2;
const MIN_POINTS = 0.05;

/** The share of its reference profile's rows a version's policy acted on, when the profile says (null once `policy set` changed the policy). */
function actionRateOf(manifest: { reference?: unknown }): number | undefined {
  const rate = (manifest.reference as { action_rate?: unknown } | null | undefined)?.action_rate;
  return typeof rate === 'number' && Number.isFinite(rate) ? rate : undefined;
}

const pct = (r: number) => `${(r * 100).toFixed(1)} %`;

/**
 * A version that acts far more or far less often than another on the rows each was profiled on
 * (its reference: the training rows, or `--reference CSV`): a threshold chosen on other data, a
 * cost matrix, a retrain on a shifted sample. The rows differ, so it is a warning, not a
 * measurement; undefined when either rate is unknown, the two are close, or they act on
 * different decisions (which the decision-set warning already says).
 */
export function actionRateChange(
  mine: { version: number; manifest: { reference?: unknown; policy: Policy } },
  theirs: { version: number; manifest: { reference?: unknown; policy: Policy } },
  theirName = `version ${theirs.version}`,
): string | undefined {
  const [a, b] = [actionRateOf(mine.manifest), actionRateOf(theirs.manifest)];
  if (a === undefined || b === undefined || Math.abs(a - b) < MIN_POINTS) return undefined;
  if (Math.max(a, b) < FACTOR * Math.min(a, b)) return undefined;
  const acting = actionDecisions(mine.manifest.policy);
  if (acting.join(',') !== actionDecisions(theirs.manifest.policy).join(',')) return undefined;
  const how =
    b === 0 ? `act where version ${theirs.version} never does` : a === 0 ? 'never act' : a > b ? `act about ${(a / b).toFixed(1)} × as often` : `act about ${(b / a).toFixed(1)} × less often`;
  return `version ${mine.version} decides ${acting.join(' or ')} on ${pct(a)} of the rows it was profiled on, ${theirName} on ${pct(b)} of its own: on traffic like those rows it would ${how}`;
}
