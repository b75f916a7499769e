// Builds the console (dist/ui: index.html, app.js, app.css) and the drift report's script and
// styles (report.js, report.css, inlined into each HTML report) with esbuild. Run by
// `npm run build`; takes well under a second.
import { build } from 'esbuild';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'ui');
// Built beside the final folder, then swapped in: a server reading dist/ui never sees half a build.
const tmp = `${out}.tmp-${process.pid}`;

await rm(tmp, { recursive: true, force: true });
await mkdir(tmp, { recursive: true });
const result = await build({
  entryPoints: { app: path.join(root, 'ui/src/main.tsx'), report: path.join(root, 'ui/src/report-main.tsx') },
  outdir: tmp,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
await copyFile(path.join(root, 'ui/index.html'), path.join(tmp, 'index.html'));
await rm(out, { recursive: true, force: true });
await rename(tmp, out);
const sizes = Object.entries(result.metafile.outputs).map(([f, o]) => `${path.basename(f)} ${(o.bytes / 1024).toFixed(0)} KiB`);
console.log(`console built in dist/ui: ${sizes.join(', ')}`);
