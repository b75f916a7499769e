import { AppError } from '../lib/errors.js';
import type { AliasChange } from '../registry/index.js';
import type { RunningCanary } from './idle.js';

/** An alias change in words, for refusals and rollback reasons. */
export function describeChange(c: AliasChange): string {
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
}

/** Whether an alias change affects the running canary: it moves the canary's target alias or archives the canary version. */
export const touchesCanary = (c: AliasChange, running: RunningCanary): boolean => (c.action === 'archive' ? c.version === running.canary_version : c.alias === running.target);

/** Whether the change completes the canary as a promotion (a rollback means undo, even onto the canary version). */
export const completesCanary = (c: AliasChange, running: RunningCanary): boolean => (c.action === 'set' || c.action === 'activate') && c.version === running.canary_version;

/** The refusal of an unforced change that would move a running canary's ground, with the ways out. */
export function canaryRunningError(c: AliasChange, running: RunningCanary): AppError {
  return new AppError(
    'CANARY_RUNNING',
    `cannot ${describeChange(c)}: a canary of ${c.model} is running (version ${running.canary_version} at ${running.canary_percent}% against ${running.target} version ${running.production_version}). ` +
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
