import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs; secrets never reach them because the redact list covers every place they live. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'modelgate' },
      // "level":"error", not 30/50: grep ERROR-style searches and log shippers' level mapping expect the word.
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.token', 'token', 'payload', '*.payload'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * The server's log: stdout written asynchronously. A synchronous write per access line costs the
 * request thread more than most of a request's own work (docs/performance.md, "The access log");
 * asynchronously, lines logged while a write is under way go out together in the next one, and
 * nothing waits at idle. pino flushes the buffer synchronously on exit.
 */
export function createServerLogger(level: string): Logger {
  return createLogger(level, pino.destination({ dest: 1, sync: false }));
}

/**
 * The same log without redaction, for lines built only from fields that never hold a secret
 * (the access line: request id, method, path, status, time). Walking the redact list's
 * wildcard paths costs more than writing such a line.
 */
export function accessLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}
