import pino, { type Logger } from 'pino';
import { TurnLogStream } from './turn-log-stream.js';

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
 * asynchronously, a turn's lines go out together (TurnLogStream), and nothing waits at idle.
 * What is still held is written synchronously on exit.
 */
export function createServerLogger(level: string): Logger {
  const stdout = 1;
  const stream = new TurnLogStream(pino.destination({ dest: stdout, sync: false }), stdout);
  process.once('exit', () => {
    try {
      stream.flushSync();
    } catch (e) {
      // stdout is gone (a closed pipe): there is nowhere left to write the log to.
      process.stderr.write(`modelgate: the last log lines could not be written: ${(e as Error).message}\n`);
    }
  });
  return createLogger(level, stream);
}

/**
 * The same log without redaction, for lines built only from fields that never hold a secret
 * (the access line: request id, method, path, status, time). Walking the redact list's
 * wildcard paths costs more than writing such a line.
 */
export function accessLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}
