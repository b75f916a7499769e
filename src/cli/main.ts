#!/usr/bin/env node
import { buildProgram } from './program.js';

// Output into a closed pipe (`modelgate predictions export | head -1`) is the reader saying it
// has enough: end quietly, as Unix tools do, rather than report "write EPIPE".
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

await buildProgram().parseAsync(process.argv);
