// The ESM half of load-trace.mjs (loader hooks run on a thread of their own).
import { appendFileSync } from 'node:fs';

export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.LOAD_TRACE_FILE, `${new URL(url).pathname}\n`);
  return next(url, context);
}
