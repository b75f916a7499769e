import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_MAIN, REPO_ROOT } from './fixtures.js';

/**
 * A shell script run in its own user and mount namespace (`unshare -rm`, no privileges needed),
 * which starts by putting `dir` on a tmpfs of `size` (say '8m'): a disk that fills for real.
 * The mount is seen only inside; files elsewhere (a control directory) are shared, so a test
 * can tell the script when to fill or free the disk. `modelgate …` in the script runs the CLI
 * (`exec node "$CLI_MAIN" …` to make it the script's own process).
 */
export interface TmpfsProcess {
  child: ChildProcess;
  /** Everything the script and its commands wrote to stdout and stderr so far. */
  output(): string;
  /** The first match of re in the output, waiting up to ms for it. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** The URL of the server the script started with `modelgate serve --json`. */
  serverUrl(ms?: number): Promise<string>;
  kill(): void;
}

export function runOnTmpfs(o: { dir: string; size: string; script: string[]; env: Record<string, string> }): TmpfsProcess {
  const script = [`mount -t tmpfs -o size=${o.size} tmpfs ${JSON.stringify(o.dir)}`, 'modelgate() { node "$CLI_MAIN" "$@"; }', ...o.script].join('\n');
  const child = spawn('unshare', ['-rm', 'sh', '-ec', script], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', CLI_MAIN, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: kill() ends the script and whatever it started in the background.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const waitFor = (re: RegExp, ms = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const until = Date.now() + ms;
      const check = setInterval(() => {
        const m = re.exec(output);
        if (m) {
          clearInterval(check);
          resolve(m);
        } else if (exited !== undefined || Date.now() > until) {
          clearInterval(check);
          reject(new Error(`${exited !== undefined ? `the script in its namespace exited with ${exited}` : `no ${re} within ${ms} ms`}:\n${output}`));
        }
      }, 50);
    });
  return {
    child,
    output: () => output,
    waitFor,
    serverUrl: async (ms) => JSON.parse((await waitFor(/^\{"url".*$/m, ms))[0]).url as string,
    kill: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}
