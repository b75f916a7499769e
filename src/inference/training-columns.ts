import type { ServableSpec } from './servable.js';

/** What a client sending its outcome column with a request is told to do instead. */
export const FEEDBACK_ADVICE = 'send outcomes as feedback (POST /v1/feedback naming its prediction_id or event_id)';

/** Why the version was trained without a column of its training data (constant, identifier, --exclude), or undefined if it had no such column. */
export const leftOutReason = (spec: Pick<ServableSpec, 'leftOut'>, name: string): string | undefined => (spec.leftOut && Object.hasOwn(spec.leftOut, name) ? spec.leftOut[name] : undefined);
