import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Start a worker thread running a sibling module of `fromUrl` (an import.meta.url). From
 * TypeScript sources (tests, `npm run demo`) the thread registers tsx first; from dist it
 * imports the compiled file directly.
 */
export function startSiblingWorker(fromUrl: string, sibling: string, workerData?: unknown): Worker {
  const ts = fileURLToPath(fromUrl).endsWith('.ts');
  const file = fileURLToPath(new URL(`./${sibling}.${ts ? 'ts' : 'js'}`, fromUrl));
  // tsx found from this module, not from the eval code's base (the working directory), so sources
  // run from another directory still start their threads.
  const code = ts
    ? `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(file)});`
    : `await import(${JSON.stringify(file)});`;
  return new Worker(code, { eval: true, workerData });
}
