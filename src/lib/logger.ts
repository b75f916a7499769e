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
