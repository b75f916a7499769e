import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AppError } from '../lib/errors.js';

/**
 * Where `npm run build` puts the console: <package>/dist/ui, found the same way from
 * src/console (run from source) and dist/console (built).
 */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

export const consoleBuilt = (dir = UI_DIR): boolean => existsSync(`${dir}/index.html`) && existsSync(`${dir}/report.js`);

export function notBuilt(): AppError {
  return new AppError('UNAVAILABLE', 'the console is not built in this installation: run npm run build (npm ci does it too), then restart the server', { missing: UI_DIR });
}

/** The drift report's script and styles, inlined into every HTML report (read once). */
let reportAssets: Promise<{ script: string; css: string }> | undefined;
export function readReportAssets(dir = UI_DIR): Promise<{ script: string; css: string }> {
  if (!consoleBuilt(dir)) return Promise.reject(notBuilt());
  reportAssets ??= Promise.all([readFile(`${dir}/report.js`, 'utf8'), readFile(`${dir}/report.css`, 'utf8')]).then(([script, css]) => ({ script, css }));
  reportAssets.catch(() => (reportAssets = undefined));
  return reportAssets;
}
