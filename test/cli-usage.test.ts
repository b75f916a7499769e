import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { CLI_MAIN, REPO_ROOT } from './helpers/fixtures.js';

/** The packages under node_modules a CLI run loaded, by name. */
function packagesLoaded(args: string[], env: Record<string, string>): Set<string> {
  const trace = path.join(tempDir(), 'loaded.txt');
  const r = spawnSync(process.execPath, ['--import', path.join(REPO_ROOT, 'test/helpers/load-trace.mjs'), CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, LOAD_TRACE_FILE: trace },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  const names = readFileSync(trace, 'utf8')
    .split('\n')
    .map((f) => /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(f)?.[1])
    .filter((n): n is string => n !== undefined);
  return new Set(names);
}

/** CLI usage, help and configuration errors: nothing registered needed (split from cli.test.ts so the two run side by side). */
describe('modelgate CLI usage and configuration errors', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };

  it('usage errors exit 2 (unknown option, missing required option, bad value, unknown command); help exits 0', async () => {
    const cases: [string[], RegExp][] = [
      [['models', '--bogus'], /unknown option '--bogus'/],
      [['promote', '--version', '2'], /required option '--model <name>' not specified/],
      [['canary', 'set', '--model', 'churn', '--percent', '150'], /--percent must be a percentage/],
      [['nosuchcommand'], /unknown command 'nosuchcommand'/],
      // The mistake made is named before a required option it hid: commander checked those first.
      [['score', '--file', 'x.csv', '--model', 'churn', '--out', 'y.csv'], /^error: unknown option '--file'\n\(Did you mean --data\?\)\n/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const help = await runCli(['promote', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--run-id <run>/);
  }, 240_000);

  it('names the mistake made before a required option it hid, with the flag or option likely meant', async () => {
    // In this process, from the program the CLI parses with (the exit code is the real run's, above).
    const usageError = async (args: string[]) => {
      let said = '';
      const quiet = (c: Command) => {
        c.exitOverride();
        c.configureOutput({ writeErr: (t) => (said += t), writeOut: () => undefined });
        c.commands.forEach(quiet);
      };
      const program = buildProgram();
      quiet(program);
      await expect(program.parseAsync(['node', 'modelgate', ...args])).rejects.toThrow();
      return said;
    };
    expect(await usageError(['feedback', 'import', '--data', 'outcomes.csv'])).toMatch(/^error: unknown option '--data'\n\(Did you mean --file\?\)\n/);
    expect(await usageError(['train', '--data', 'x.csv', '--target', 'y', '--name', 'churn'])).toMatch(/^error: unknown option '--name'\n\(Did you mean --model\?\)\n/);
    // A flag with a word more or less than the one meant (before: no suggestion, the edit distance being large).
    expect(await usageError(['keys', 'create', '--name', 'app', '--scopes', 'infer', '--rate-limit', '100/s'])).toMatch(/^error: unknown option '--rate-limit'\n\(Did you mean --rate\?\)\n/);
    expect(await usageError(['feedback', 'import', '--file', 'o.csv', '--event', 'booking_id'])).toMatch(/^error: unknown option '--event'\n\(Did you mean --event-id\?\)\n/);
    expect(await usageError(['monitor', 'churn'])).toMatch(/^error: required option '--model <name>' not specified; "churn" was given as an argument: did you mean --model churn\?\n/);
    expect(await usageError(['canary', 'status', 'churn'])).toMatch(/did you mean --model churn\?/);
    // A word more than the command takes is named, not counted ("too many arguments for 'monitor'. Expected 0 arguments but got 1.").
    expect(await usageError(['restore', 'a.tar', 'b.tar'])).toMatch(
      /^error: modelgate restore takes one argument \(FILE\) and options; "b.tar" is more than it takes \(a value with spaces needs quotes\)\n/,
    );
    expect(await usageError(['models', 'churn', 'extra'])).toMatch(/^error: modelgate models takes at most one argument \(NAME\) and options; "extra" is more than it takes/);
    expect(await usageError(['monitor', 'run', '--model', 'churn'])).toMatch(/^error: modelgate monitor takes options only; "run" is more than it takes/);
    expect(await usageError(['keys', 'create', '--name', 'app', '--scopes', 'infer', 'extra', 'words'])).toMatch(
      /^error: modelgate keys create takes options only; "extra" "words" are more than it takes/,
    );
    // Without a hidden mistake, commander's own message stands.
    expect(await usageError(['promote', '--version', '2'])).toMatch(/^error: required option '--model <name>' not specified\n/);
  });

  // About fifteen process starts: up to 4 s each beside the rest of the suite on a loaded machine.
  it('bad configuration fails at start listing every bad variable', async () => {
    const r = await runCli(['serve'], { ...env, PORT: 'eighty', WORKERS: '0', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', MODELGATE_ADMIN_TOKEN: 'short' });
    expect(r.code).toBe(2);
    for (const v of ['PORT', 'WORKERS', 'LOG_LEVEL', 'DATABASE_URL', 'MODELGATE_ADMIN_TOKEN']) expect(r.stderr).toContain(v);
  });

  it('a variable it would ignore, such as a misspelt one, is named on stderr with the one meant; --json output stays JSON', async () => {
    const r = await runCli(['models', '--json'], { ...env, ARTIFACT_DIR: '/srv/artifacts', DATABSE_URL: 'postgres://postgres@127.0.0.1/x' });
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({ models: [], total: 0 });
    expect(r.stderr).toContain('warning: ARTIFACT_DIR is set, but modelgate reads no variable of that name and ignores it: did you mean ARTIFACT_STORE?');
    expect(r.stderr).toContain('warning: DATABSE_URL is set, but modelgate reads no variable of that name and ignores it: did you mean DATABASE_URL?');
  });

  // Each of these takes 0.1-0.3 s to load on a small machine: a command that does not use one must not load it.
  it('a command loads only what it uses: no HTTP server, onnxruntime, S3, Redis, JWT, PostgreSQL driver or ONNX reader to list models on SQLite', () => {
    const heavy = ['fastify', '@fastify/swagger-ui', 'onnxruntime-node', '@aws-sdk/client-s3', 'ioredis', 'jose', 'pg', 'prom-client', 'onnx-proto', 'protobufjs'];
    const help = packagesLoaded(['--help'], env);
    expect(help.has('pino')).toBe(true);
    const listed = packagesLoaded(['models', '--json'], env);
    expect(listed.has('better-sqlite3')).toBe(true);
    expect(heavy.filter((p) => help.has(p) || listed.has(p))).toEqual([]);
    // Bundled into dist/bin by scripts/build-cli.mjs: read from node_modules file by file, they cost a third of the start.
    expect(['kysely', 'zod', 'commander', 'csv-parse'].filter((p) => help.has(p) || listed.has(p))).toEqual([]);
    // Nor zod's messages in 63 other languages (358 KiB, a seventh of what every command parsed): English only.
    const bundle = readdirSync(path.dirname(CLI_MAIN))
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(path.join(path.dirname(CLI_MAIN), f), 'utf8'))
      .join('\n');
    expect(bundle).toContain('Invalid input: expected');
    expect(['Ungültige Eingabe', 'Entrada inválida', 'Entrée invalide'].filter((t) => bundle.includes(t))).toEqual([]);
  });

  it('serve on a port already in use, or on an address not of this machine: the reason and what to set, not an errno', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const inUse = await runCli(['serve', '--json'], { ...env, MODELGATE_ADMIN_TOKEN: 'a'.repeat(24), HOST: '127.0.0.1', PORT: String(port) });
      expect(inUse.code).toBe(1);
      expect(inUse.json().error).toEqual({
        code: 'CONFLICT',
        message: `cannot listen on 127.0.0.1:${port}: another process (another modelgate?) already uses the port; stop it, or choose another port with PORT or --port`,
      });
    } finally {
      holder.close();
    }
    // 192.0.2.0/24 is reserved for documentation: never an address of this machine.
    const elsewhere = await runCli(['serve'], { ...env, MODELGATE_ADMIN_TOKEN: 'a'.repeat(24), HOST: '192.0.2.7', PORT: '0' });
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('error: cannot listen on 192.0.2.7:0: 192.0.2.7 is not an address of this machine; set HOST to');
  });

  it('an unreachable database is a clear error naming where and what to check', async () => {
    const r = await runCli(['models', '--json'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(r.code).toBe(1);
    expect(r.json().error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(r.json().error.message).toMatch(/cannot use the database at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere .*check DATABASE_URL/);
  });

  // Sixteen process starts in a row: about 2 s each alone, up to 4 s beside the rest of the suite on a loaded CI machine.
  it('every command has --help with an example and --json', () => {
    // Every command the CLI has, read from the program it parses with (one real --help run is above).
    const leaves: Command[] = [];
    const walk = (c: Command) => (c.commands.length ? c.commands.forEach(walk) : leaves.push(c));
    buildProgram().commands.forEach(walk);
    expect(leaves.length).toBeGreaterThan(40);
    const missing = leaves.flatMap((c) => {
      let help = '';
      c.configureOutput({ writeOut: (t) => (help += t) });
      c.outputHelp();
      const name = [c.parent?.parent ? c.parent.name() : '', c.name()].filter(Boolean).join(' ');
      return [...(/Example/.test(help) ? [] : [`${name}: no example`]), ...(/--json/.test(help) ? [] : [`${name}: no --json`])];
    });
    expect(missing).toEqual([]);
  }, 240_000);
});
