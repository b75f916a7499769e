import { AppError, errorMessage } from '../lib/errors.js';
import { isNoSpace } from '../lib/disk-space.js';
import { ConfigError } from '../config.js';

export { byteSize } from '../lib/byte-size.js';

export interface OutputOptions {
  json?: boolean;
}

/** Print a result: JSON for machines with --json, readable text otherwise. */
export function emit(opts: OutputOptions, data: unknown, text: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** Progress goes to stderr so --json output on stdout stays parseable. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined || r[c] === null ? '-' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

/** Exit codes: 1 a failed operation, 2 bad usage or configuration. */
export function fail(opts: OutputOptions, e: unknown): never {
  // The reader of our stdout went away (a pipe into head): not a failure.
  if ((e as NodeJS.ErrnoException)?.code === 'EPIPE') process.exit(0);
  // A full disk met where no caller could name the directory (a stream to --out, say).
  if (isNoSpace(e) && !(e instanceof AppError))
    e = new AppError('UNAVAILABLE', `no space left on a device this command writes to (${errorMessage(e)}): free space where it writes (--out, MODELGATE_DATA_DIR, TMPDIR), then run it again`);
  const code = e instanceof AppError ? e.code : e instanceof ConfigError ? 'CONFIG_INVALID' : 'INTERNAL';
  const message = errorMessage(e);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ error: { code, message, ...(e instanceof AppError && e.details ? { details: e.details } : {}) } }, null, 2)}\n`);
  } else {
    process.stderr.write(`error: ${message}\n`);
  }
  process.exit(e instanceof ConfigError || (e instanceof AppError && e.status === 400) ? 2 : 1);
}
