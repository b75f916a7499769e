import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError, errorMessage, type ErrorCode } from './errors.js';

let builtThreads: string | undefined;

/**
 * Threads started from TypeScript sources run the built thread module of the same name in `dir`
 * instead (scripts/build-cli.mjs bundles each into dist/bin), without tsx's loader, which costs
 * a thread about half a second of CPU more. For the test suite, whose global setup rebuilds
 * dist/ from these sources when they are newer; `undefined` goes back to the sources.
 */
export function runThreadsFromBuild(dir: string | undefined): void {
  builtThreads = dir;
}

/**
 * Start a worker thread running a sibling module of `fromUrl` (an import.meta.url). From
 * TypeScript sources (tests, `npm run demo`) the thread registers tsx first; from dist it
 * imports the compiled file directly.
 */
export function startSiblingWorker(fromUrl: string, sibling: string, workerData?: unknown): Worker {
  const ts = fileURLToPath(fromUrl).endsWith('.ts');
  if (ts && builtThreads) return new Worker(`await import(${JSON.stringify(path.join(builtThreads, `${sibling}.js`))});`, { eval: true, workerData });
  const file = fileURLToPath(new URL(`./${sibling}.${ts ? 'ts' : 'js'}`, fromUrl));
  // tsx found from this module, not from the eval code's base (the working directory), so sources
  // run from another directory still start their threads.
  const code = ts
    ? `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(file)});`
    : `await import(${JSON.stringify(file)});`;
  return new Worker(code, { eval: true, workerData });
}

/** An error as a thread posts it: its message, and an AppError's code and details so the caller's answer is the same. */
export interface ThreadError {
  error: string;
  code?: ErrorCode;
  details?: Record<string, unknown>;
}

export const toThreadError = (e: unknown): ThreadError => ({ error: errorMessage(e), ...(e instanceof AppError ? { code: e.code, details: e.details } : {}) });

export const fromThreadError = (m: ThreadError): Error => (m.code ? new AppError(m.code, m.error, m.details) : new Error(m.error));
