import { spawn } from 'node:child_process';
import { CLI_MAIN, REPO_ROOT } from './fixtures.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Run the real CLI (the built `modelgate` command, dist/bin/modelgate.js) in a child process. */
/** `stdin`: bytes piped into the command (otherwise its stdin is /dev/null). */
export function runCli(args: string[], env: Record<string, string>, opts: { timeoutMs?: number; stdin?: Uint8Array | string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT,
      // A command that should have ended is sent SIGTERM after this long, so a test fails instead of leaving it running.
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', MODELGATE_ACTOR: 'tester', ...env },
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, json: () => parseOutput(args, code, stdout, stderr) }));
  });
}

/** JSON.parse of the command's stdout; when that is not JSON, the error says what the command printed and how it ended, so a failure explains itself. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseOutput(args: string[], code: number | null, stdout: string, stderr: string): any {
  try {
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(
      `modelgate ${args.join(' ')} (exit ${code}) printed no JSON (${(e as Error).message}); stdout: ${JSON.stringify(stdout.slice(0, 2000))}; stderr: ${JSON.stringify(stderr.slice(0, 4000))}`,
    );
  }
}
