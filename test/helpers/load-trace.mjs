// Preload (node --import) that appends the path of every module the process loads, ESM and
// CommonJS, to the file named by LOAD_TRACE_FILE: what a command pays for at start.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.LOAD_TRACE_FILE;
register('./load-trace-hooks.mjs', import.meta.url);
const Module = createRequire(import.meta.url)('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const found = resolve.apply(this, args);
  if (found.includes('/')) appendFileSync(file, `${found}\n`);
  return found;
};
