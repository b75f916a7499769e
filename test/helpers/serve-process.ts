import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { openContext } from '../../src/server/context.js';
import { CLI_MAIN, demoModel, REPO_ROOT } from './fixtures.js';
import { TOKEN } from './server.js';

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

/** A real `modelgate serve` child process; resolves with its URL once it listens. */
export function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--json'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"url"'));
      if (line) resolve({ child, url: JSON.parse(line).url, output: () => out });
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

/** The environment a `modelgate serve` child needs on loopback, with `extra` on top. */
export function serveEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: TOKEN, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...extra };
}

/** Register the demo model as version 1 of `hotel` and make it production, through the configuration in `env`. */
export async function registerDemo(env: Record<string, string>): Promise<void> {
  const ctx = await openContext(loadConfig(env), createLogger('silent'));
  try {
    await ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
    await ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  } finally {
    await ctx.close();
  }
}
