import { AppError } from '../lib/errors.js';
import { databaseRefusal } from '../db/unavailable.js';
import { enableInterruptCleanup } from '../lib/interrupt-cleanup.js';
import os from 'node:os';
import { loadConfigForCli, unreadVariables, type Config } from '../config.js';
import { createLogger } from '../lib/logger.js';
import { openContext, type Context } from '../server/context.js';
import { fail, progress, type OutputOptions } from './output.js';

/** Who ran a CLI command, recorded on every change it makes. */
export const cliActor = () => `cli:${process.env.MODELGATE_ACTOR ?? os.userInfo().username}`;

/** The configuration a CLI command acts on; a variable it would ignore is named on stderr first. */
export function cliConfig(): Config {
  const config = loadConfigForCli();
  for (const w of unreadVariables()) progress(`warning: ${w}`);
  return config;
}

/**
 * Run a command against the configured store. Logs go to stderr at warn level so they never
 * mix with the command's own output.
 */
export async function withContext<T>(opts: OutputOptions, fn: (ctx: Context) => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  // Ctrl-C removes the partial output a command is writing (a server keeps its graceful SIGTERM).
  enableInterruptCleanup();
  try {
    const config = cliConfig();
    const log = createLogger(process.env.LOG_LEVEL?.trim().toLowerCase() === 'debug' ? 'debug' : 'warn', process.stderr);
    ctx = await openContext(config, log);
    return await fn(ctx);
  } catch (e) {
    // A full disk under the database, or a server that takes no writes, named (openContext names them itself when it cannot open).
    const full = ctx ? databaseRefusal(e, ctx.db.location.kind === 'sqlite' ? ctx.db.location.file : undefined) : undefined;
    await ctx?.close().catch(() => undefined);
    ctx = undefined;
    return fail(opts, full ?? e);
  } finally {
    await ctx?.close();
  }
}

export function parseVersion(v: string | undefined, flag = '--version'): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(v)) throw new AppError('BAD_REQUEST', `${flag} must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** A numeric flag within [min, max]; undefined when not given. */
export function parseNumberFlag(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    // An unbounded side is not written out (it read "from -1.7976931348623157e+308").
    const range = min <= -Number.MAX_VALUE ? (max >= Number.MAX_VALUE ? '' : ` up to ${max}`) : max >= Number.MAX_VALUE ? ` of at least ${min}` : ` from ${min} to ${max}`;
    throw new AppError('BAD_REQUEST', `${flag} must be a number${range}, got ${JSON.stringify(v)}`);
  }
  return n;
}
