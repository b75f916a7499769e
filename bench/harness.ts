/** What the benchmarks share: child servers, autocannon loads with per-second progress, warm-ups. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
export const log = (m: string) => process.stderr.write(`${m}\n`);

export interface Child {
  child: ChildProcess;
  url: string;
}

export function startChild(args: string[], env: Record<string, string>): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let found = false;
    child.stdout!.on('data', (d: Buffer) => {
      // After the address line, output (access logs at info) is drained and dropped, as a log shipper would.
      if (found) return;
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{') && l.includes('"url"'));
      if (line) {
        found = true;
        resolve({ child, url: JSON.parse(line).url as string });
      }
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

export async function load(name: string, url: string, body: string, duration: number, token = ADMIN_TOKEN): Promise<autocannon.Result> {
  log(`loading ${name}: ${connections} connections for ${duration}s`);
  let count = 0;
  let second = 0;
  const timer = setInterval(() => {
    second++;
    log(`  ${name} ${second}s: ${count} req/s`);
    count = 0;
  }, 1000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: `${url}/v1/infer`, method: 'POST', connections, duration, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', () => count++);
  });
  clearInterval(timer);
  if (result.non2xx || result.errors) throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return result;
}

/** A short unmeasured run so JIT and connection pools are warm before the measured one. */
export async function warm(url: string, body: string, duration = 3, token = ADMIN_TOKEN): Promise<void> {
  await autocannon({ url: `${url}/v1/infer`, method: 'POST', connections, duration, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
}

/**
 * A against B in alternating short slices (B first, then A, pair after pair), so drift on a
 * shared machine hits both alike; the ratio is of the summed requests.
 */
export async function alternate(name: string, a: { url: string; token?: string }, b: { url: string; token?: string }, body: string, pairs: number, slice: number) {
  const as: autocannon.Result[] = [];
  const bs: autocannon.Result[] = [];
  for (let i = 1; i <= pairs; i++) {
    bs.push(await load(`${name} B, slice ${i}`, b.url, body, slice, b.token));
    as.push(await load(`${name} A, slice ${i}`, a.url, body, slice, a.token));
  }
  const total = (xs: autocannon.Result[]) => xs.reduce((s, x) => s + x.requests.total, 0);
  return { ratio: total(as) / total(bs), perPair: as.map((x, i) => x.requests.average / bs[i].requests.average), aRps: Math.round(total(as) / (pairs * slice)), bRps: Math.round(total(bs) / (pairs * slice)) };
}
