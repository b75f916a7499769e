import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino';

type Log = (...args: unknown[]) => void;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type Level = (typeof LEVELS)[number];

/**
 * Fastify gives every request a child logger bound to its request id. Making a pino child
 * serialises and redacts the bindings (about 1 µs), yet a request that succeeds never logs
 * through it: its access line has a logger of its own (app.ts). This stands in for that child
 * and makes it on first use, so only requests that log (errors, rejections) pay for one.
 */
export class LazyRequestLogger {
  private made?: FastifyBaseLogger;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.childBindings, this.options));
  }

  // A child has its parent's level until it is set; reading it need not make the child.
  get level(): LevelWithSilentOrString {
    return this.made ? this.made.level : (this.options.level ?? this.parent.level);
  }

  set level(level: LevelWithSilentOrString) {
    this.real.level = level;
  }

  declare fatal: Log;
  declare error: Log;
  declare warn: Log;
  declare info: Log;
  declare debug: Log;
  declare trace: Log;

  /** Where the level methods write: the child, made now if it was not yet. */
  writeAt(level: Level, args: unknown[]): void {
    (this.real as unknown as Record<Level, Log>)[level](...args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }

  isLevelEnabled(level: string): boolean {
    return (this.real as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level);
  }

  bindings(): Bindings {
    return (this.real as unknown as { bindings(): Bindings }).bindings();
  }
}

// The level methods live on the prototype, not as per-instance closures: nothing to allocate per request.
for (const level of LEVELS) {
  Object.defineProperty(LazyRequestLogger.prototype, level, {
    value(this: LazyRequestLogger, ...args: unknown[]) {
      this.writeAt(level, args);
    },
  });
}

/** Fastify's childLoggerFactory: a LazyRequestLogger in place of an eager child. */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}
