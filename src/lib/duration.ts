import { AppError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "30s", "1h", "500ms", "7d" → milliseconds. */
export function parseDuration(text: string, field: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new AppError('VALIDATION_FAILED', `${field}: expected a duration such as 30s, 10m or 1h, got ${JSON.stringify(text)}`, { field });
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

/** A window of recent traffic: a duration longer than nothing (a 0s window is an empty report, stored as if it were one). */
export function parseWindow(text: string, field: string): number {
  const ms = parseDuration(text, field);
  if (ms < 1) throw new AppError('VALIDATION_FAILED', `${field}: a window of ${text.trim()} holds no traffic; give a length such as 1h, 24h or 7d`, { field });
  return ms;
}

/** The longest a replaced credential (an API key's token, a webhook secret) stays valid after a rotation. */
export const MAX_GRACE_MS = 30 * 86_400_000;

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
