import pino, { type Logger } from 'pino';
import { TurnLogStream } from './turn-log-stream.js';

export type { Logger };

/**
 * How a line is spelled. json: pino's own ("level":"info", "time" in epoch milliseconds, "msg").
 * gcp: what Google Cloud Logging reads from a container's stdout ("severity":"WARNING", "time"
 * in RFC 3339, "message"): with pino's spelling every line is filed at the default severity, so
 * a filter or an alert on ERROR never matches.
 */
export type LogFormat = 'json' | 'gcp';

const GCP_SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

/** JSON logs; secrets never reach them because the redact list covers every place they live. */
export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      base: { service: 'modelgate' },
      ...(format === 'gcp'
        ? { formatters: { level: (label: string) => ({ severity: GCP_SEVERITY[label] ?? 'DEFAULT' }) }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'message' }
        : // "level":"error", not 30/50: grep ERROR-style searches and log shippers' level mapping expect the word.
          { formatters: { level: (label: string) => ({ level: label }) } }),
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
export function createServerLogger(level: string, format: LogFormat = 'json'): Logger {
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
  return createLogger(level, stream, format);
}

/** One request's access line: its id, method, path (no query), status and milliseconds. */
export type AccessLine = (requestId: string, method: string, path: string, status: number, ms: number) => void;

/** A string as pino writes a value (its asString, pino/lib/tools.js), so the lines match pino's byte for byte. */
function quoted(s: string): string {
  if (s.length > 100) return JSON.stringify(s);
  let result = '';
  let last = 0;
  let found = false;
  let point = 255;
  for (let i = 0; i < s.length && point >= 32; i++) {
    point = s.charCodeAt(i);
    if (point === 34 || point === 92) {
      result += `${s.slice(last, i)}\\`;
      last = i;
      found = true;
    }
  }
  result = found ? result + s.slice(last) : s;
  return point < 32 ? JSON.stringify(s) : `"${result}"`;
}

/**
 * The access line, written to the log's destination as the text pino makes of
 * `log.info({ request_id, method, url, status, ms }, 'request completed')`: its level field,
 * time, bindings and message, then a newline. pino builds a line by walking the object's keys
 * and checking every value's type: 1.9–2.8 µs a line where this takes 1.1–1.4, in one process.
 * These five fields never hold a secret, so nothing is redacted either way. Undefined when info
 * is off. A test compares its lines with pino's own for the same fields, odd characters included;
 * a logger set up with more than createLogger gives it (a log formatter, serializers, a mixin…)
 * must be checked the same way before it relies on this.
 */
export function accessLineWriter(log: Logger): AccessLine | undefined {
  if (!log.isLevelEnabled('info')) return undefined;
  const internals = log as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as pino.DestinationStream & Record<symbol, unknown>;
  const hooks = internals[pino.symbols.hooksSym] as { logMethod?: unknown } | undefined;
  if (stream[pino.symbols.needsMetadataGsym] || internals[pino.symbols.mixinSym] || internals[(pino.symbols as unknown as Record<string, symbol>).msgPrefixSym] || hooks?.logMethod) {
    // A logger set up beyond what createLogger does: leave the line to pino.
    const viaPino = log.child({}, { redact: [] });
    return (requestId, method, path, status, ms) => viaPino.info({ request_id: requestId, method, url: path, status, ms }, 'request completed');
  }
  const formatLevel = (internals[pino.symbols.formattersSym] as { level: (label: string, n: number) => object }).level;
  const levelText = JSON.stringify(formatLevel('info', log.levels.values.info)).slice(1, -1);
  const bindings = internals[pino.symbols.chindingsSym] as string;
  const time = internals[pino.symbols.timeSym] as () => string;
  const messageKey = internals[pino.symbols.messageKeySym] as string;
  const tail = `,${JSON.stringify(messageKey)}:"request completed"}\n`;
  return (requestId, method, path, status, ms) => {
    stream.write(
      `{${levelText}${time()}${bindings},"request_id":${quoted(requestId)},"method":${quoted(method)},"url":${quoted(path)},"status":${status},"ms":${Number.isFinite(ms) ? ms : 'null'}${tail}`,
    );
  };
}
