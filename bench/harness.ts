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
    // BENCH_NODE_ARGS passes flags to the servers only, for example to profile them:
    // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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

/** A request body: the same for every request, or made afresh for each one. */
export type Body = string | (() => string);

/** autocannon options for POST /v1/infer with this body and bearer token. */
function inferRequests(body: Body, token: string) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const request = typeof body === 'string' ? { body } : { requests: [{ method: 'POST' as const, path: '/v1/infer', headers, setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }) }] };
  return { method: 'POST' as const, headers, ...request };
}

export async function load(name: string, url: string, body: Body, duration: number, token = ADMIN_TOKEN): Promise<autocannon.Result> {
  log(`loading ${name}: ${connections} connections for ${duration}s`);
  let count = 0;
  let second = 0;
  const timer = setInterval(() => {
    second++;
    log(`  ${name} ${second}s: ${count} req/s`);
    count = 0;
  }, 1000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: `${url}/v1/infer`, connections, duration, ...inferRequests(body, token) }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', () => count++);
  });
  clearInterval(timer);
  if (result.non2xx || result.errors) throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return result;
}

/** A short unmeasured run so JIT and connection pools are warm before the measured one. */
export async function warm(url: string, body: Body, duration = 3, token = ADMIN_TOKEN): Promise<void> {
  await autocannon({ url: `${url}/v1/infer`, connections, duration, ...inferRequests(body, token) });
}

/** The server's own CPU seconds so far (prom-client's process_cpu_seconds_total on /metrics). */
export async function cpuSeconds(url: string, token = ADMIN_TOKEN): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('process_cpu_seconds_total '));
  if (!line) throw new Error(`${url}/metrics has no process_cpu_seconds_total`);
  return Number(line.split(' ')[1]);
}

export interface Side {
  url: string;
  token?: string;
  /** This side's request body, when it differs from the one both sides share. */
  body?: Body;
  /** Run before each of this side's slices (for example, start or stop a canary). */
  before?: () => Promise<void>;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/**
 * A against B in short slices, ordered B A, A B, B A… (so a steady drift on a shared machine
 * hits both alike and a slice's position in its pair favours neither). The ratio is of the
 * summed requests. Each slice also reads the server's CPU seconds, so the cost per request is
 * known apart from how much CPU the machine happened to leave the server.
 */
export async function alternate(name: string, a: Side, b: Side, body: Body, pairs: number, slice: number) {
  const as: autocannon.Result[] = [];
  const bs: autocannon.Result[] = [];
  const cpu = { a: 0, b: 0 };
  const run = async (side: Side, label: 'A' | 'B', i: number) => {
    await side.before?.();
    const before = await cpuSeconds(side.url);
    const r = await load(`${name} ${label}, slice ${i}`, side.url, side.body ?? body, slice, side.token);
    cpu[label === 'A' ? 'a' : 'b'] += (await cpuSeconds(side.url)) - before;
    (label === 'A' ? as : bs).push(r);
  };
  for (let i = 1; i <= pairs; i++) {
    if (i % 2) {
      await run(b, 'B', i);
      await run(a, 'A', i);
    } else {
      await run(a, 'A', i);
      await run(b, 'B', i);
    }
  }
  const total = (xs: autocannon.Result[]) => xs.reduce((s, x) => s + x.requests.total, 0);
  const perRequestUs = (seconds: number, xs: autocannon.Result[]) => (seconds * 1e6) / total(xs);
  return {
    ratio: total(as) / total(bs),
    perPair: as.map((x, i) => x.requests.average / bs[i].requests.average),
    aRps: Math.round(total(as) / (pairs * slice)),
    bRps: Math.round(total(bs) / (pairs * slice)),
    aRequests: total(as),
    bRequests: total(bs),
    /** Server CPU microseconds per request on each side; their ratio is the cost apart from machine noise. */
    aCpuUs: perRequestUs(cpu.a, as),
    bCpuUs: perRequestUs(cpu.b, bs),
    /** Each slice's p99 latency in ms, per side. */
    p99Ms: { a: as.map((x) => x.latency.p99), b: bs.map((x) => x.latency.p99) },
  };
}
