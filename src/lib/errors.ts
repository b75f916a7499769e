import type { Logger } from './logger.js';

/**
 * The one error model. Every error a user can cause is an AppError with a code from this
 * closed set; the HTTP layer maps codes to status in one place and renders
 * {"error":{"code","message","details"?,"request_id"}}. The CLI prints the same message.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_MODEL: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  CANARY_RUNNING: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  RATE_LIMITED: 429,
  ARTIFACT_CORRUPT: 500,
  INFERENCE_FAILED: 500,
  INTERNAL: 500,
  MODEL_NOT_AVAILABLE: 503,
  NOT_READY: 503,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly details?: Record<string, unknown>,
    /** The message as logged, when the reply's quotes what the caller sent (payload values stay out of logs). */
    public readonly logMessage?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/**
 * Seconds an UNAVAILABLE answer asks the caller to wait before trying again: it is a passing
 * state (a database or Redis unreachable, a version being swapped), and a client that honours
 * Retry-After otherwise retries at once, or not at all. MODEL_NOT_AVAILABLE carries none: it
 * lasts until an operator promotes or fixes a version, which no wait foretells.
 */
export const RETRY_AFTER_S = 1;

/**
 * Logs a request's error. A 503 is a state the server is in (Redis or the database unreachable,
 * nothing in production), which the part that met it logs once: each refused request is a
 * warning without a stack, not an error line of its own (848 error lines with stacks for three
 * Redis failovers of a few milliseconds each, measured). Other 5xx are errors with the cause.
 */
export function logRequestError(log: Pick<Logger, 'warn' | 'error' | 'info'>, cause: unknown, e: AppError): void {
  const message = e.logMessage ?? e.message;
  if (e.status === 503) log.warn({ code: e.code, message }, 'request refused: service unavailable');
  else if (e.status >= 500) log.error({ err: cause }, 'request failed');
  else log.info({ code: e.code, message }, 'request rejected');
}

/** The headers an error reply carries besides its body: how to authenticate, when to retry. */
export function errorHeaders(e: AppError): Record<string, string> {
  if (e.code === 'UNAUTHORIZED') return { 'www-authenticate': 'Bearer' };
  if (e.code === 'UNAVAILABLE' || e.code === 'NOT_READY') return { 'retry-after': String(RETRY_AFTER_S) };
  return {};
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** A model name nothing is registered under (the registry's and the serving pool's answer alike). */
export const modelNotFound = (model: string) => new AppError('MODEL_NOT_FOUND', `model ${model} is not registered; GET /v1/models (modelgate models) lists the registered names`, { model });

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
