import { AppError } from '../lib/errors.js';
import { parseDuration } from '../lib/duration.js';

export interface Rate {
  limit: number;
  windowMs: number;
  /** As given, e.g. 100/s. */
  text: string;
}

/** "100/s", "6000/m", "50000/h", "20/10s" → requests per window. */
export function parseRate(text: string, field = 'rate'): Rate {
  const m = /^([1-9][0-9]{0,8})\/([0-9]*(?:\.[0-9]+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new AppError('VALIDATION_FAILED', `${field}: expected requests per window such as 100/s, 6000/m or 20/10s, got ${JSON.stringify(text)}`, { field });
  const windowMs = parseDuration(`${m[2] || '1'}${m[3]}`, field);
  if (windowMs < 100 || windowMs > 86_400_000) throw new AppError('VALIDATION_FAILED', `${field}: the window must be between 100ms and 1d, got ${text}`, { field });
  return { limit: Number(m[1]), windowMs, text: text.trim() };
}
