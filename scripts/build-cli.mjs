// Bundles the compiled CLI (dist/cli/main.js, from tsc) into dist/bin/modelgate.js, what the
// package's `modelgate` command and the image run. Node loads ESM file by file: the CLI's own
// 300-odd modules, kysely's 262, zod's and the small packages below took about a third of every
// command's start (docs/performance.md, "CLI start time"). Only this project's code and plain
// JavaScript packages that never look for their own files are bundled; every other package stays
// an import from node_modules: some find files by path (pino's transport threads, the Swagger
// UI's assets, onnxruntime's and better-sqlite3's native addons, protobufjs's optional modules),
// and the server's (Fastify, ioredis, pg, the AWS SDK) load only when a command uses them.
// Run by `npm run build`; takes about a second.
import { build } from 'esbuild';
import { chmod, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'bin');
// The same depth below the project as dist/cli, so `new URL('../../package.json', import.meta.url)`
// and the console's `../../dist/ui/` still resolve from the bundle.
const tmp = path.join(root, 'dist', `bin.tmp-${process.pid}`);
const BUNDLED_PACKAGES = new Set([
  'kysely',
  'zod',
  'commander',
  'csv-parse',
  'csv-stringify',
  'lru-cache',
  'p-limit',
  'yocto-queue',
  'fastest-levenshtein',
  'secure-json-parse',
  'pg-connection-string',
  'tar',
  'minipass',
  'minizlib',
  'chownr',
  'yallist',
  '@isaacs/fs-minipass',
]);

/** src/**\/*.ts files, without tests. */
async function sources(dir) {
  const found = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) found.push(p);
  }
  return found;
}

// A worker thread runs a module found beside its caller (src/lib/worker.ts): in the bundle every
// chunk is in dist/bin, so each such module is an entry point of its own there.
const threads = {};
for (const file of await sources(path.join(root, 'src'))) {
  for (const m of (await readFile(file, 'utf8')).matchAll(/startSiblingWorker\(import\.meta\.url, '([a-z-]+)'/g)) {
    const compiled = path.join(root, 'dist', path.relative(path.join(root, 'src'), path.dirname(file)), `${m[1]}.js`);
    if (threads[m[1]] && threads[m[1]] !== compiled) throw new Error(`two thread modules named ${m[1]}: ${threads[m[1]]} and ${compiled}`);
    threads[m[1]] = compiled;
  }
}

await rm(tmp, { recursive: true, force: true });
const result = await build({
  entryPoints: { modelgate: path.join(root, 'dist/cli/main.js'), ...threads },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  sourcemap: true,
  // The maps name src/ and node_modules/ files; their text would triple dist/bin's size.
  sourcesContent: false,
  logLevel: 'warning',
  metafile: true,
  // CommonJS packages inlined into ESM call require() for Node's own modules.
  banner: { js: "import { createRequire as __modelgateRequire } from 'node:module'; const require = __modelgateRequire(import.meta.url);" },
  plugins: [
    {
      // zod's classic API re-exports every locale's messages (64 files, 358 KiB, a seventh of the
      // bundle, parsed at every command's start); modelgate speaks English, so `locales` keeps `en`.
      name: 'zod-english-only',
      setup(b) {
        b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
          contents: "export { default as en } from './en.js';",
          loader: 'js',
          resolveDir: path.dirname(args.path),
        }));
      },
    },
    {
      name: 'packages-stay-imports',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          const name = args.path
            .split('/')
            .slice(0, args.path.startsWith('@') ? 2 : 1)
            .join('/');
          return BUNDLED_PACKAGES.has(name) ? undefined : { external: true };
        });
      },
    },
  ],
});
await chmod(path.join(tmp, 'modelgate.js'), 0o755);
await rm(out, { recursive: true, force: true });
await rename(tmp, out);
const bytes = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.js'))
  .reduce((t, [, o]) => t + o.bytes, 0);
const locales = Object.keys(result.metafile.inputs).filter((f) => /zod[\\/]v4[\\/]locales[\\/](?!en\.js|index\.js)/.test(f));
if (locales.length) console.warn(`warning: zod's other locales are bundled again (${locales.length} files, e.g. ${locales[0]}): its layout changed; see the zod-english-only plugin`);
console.log(`CLI bundled in dist/bin: modelgate.js and ${Object.keys(threads).length} thread modules, ${(bytes / 1024).toFixed(0)} KiB of JavaScript`);
