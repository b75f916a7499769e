import { AppError, errorMessage } from '../lib/errors.js';
import { ConfigError } from '../config.js';

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

/** A byte count for people: 292 B, 41.5 KiB, 1.1 MiB (a compiled linear model takes a few hundred bytes). */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
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
  const code = e instanceof AppError ? e.code : e instanceof ConfigError ? 'CONFIG_INVALID' : 'INTERNAL';
  const message = errorMessage(e);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ error: { code, message, ...(e instanceof AppError && e.details ? { details: e.details } : {}) } }, null, 2)}\n`);
  } else {
    process.stderr.write(`error: ${message}\n`);
  }
  process.exit(e instanceof ConfigError || (e instanceof AppError && e.status === 400) ? 2 : 1);
}
