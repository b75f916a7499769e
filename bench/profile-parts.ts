/**
 * Splits a V8 CPU profile of a loaded server into the parts a request's time goes to. A sample
 * belongs to the innermost frame that has a source file: a library by its package, modelgate's
 * code by its folder and file. Built-ins (JSON.parse, typed arrays) count for their caller.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  /** µs on the system's monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface CpuParts {
  requests: number;
  /** µs of CPU per request, by part. */
  parts: Record<string, number>;
  totalUs: number;
}

const RULES: [RegExp, string][] = [
  [/node_modules\/(prom-client|tdigest|bintrees)\//, 'metrics'],
  [/src\/server\/(metrics|cluster-metrics)\.ts/, 'metrics'],
  [/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|on-exit-leak-free)\//, 'access log (one line per request)'],
  [/src\/lib\/(logger|turn-log-stream)\.ts/, 'access log (one line per request)'],
  [/src\/(access\/|server\/auth\.ts)/, 'auth and rate limit'],
  [/src\/inference\/(compiled\/|engine\.ts|batcher\.ts)/, 'model (compiled engine)'],
  [/node_modules\/onnxruntime/, 'model (compiled engine)'],
  [/src\/inference\//, 'validation, encoding, routing, response'],
  [/src\/audit\//, 'audit'],
  [/src\/rollout\//, 'rollout arm statistics'],
  [
    /node_modules\/(fastify|@fastify|find-my-way|fast-json-stringify|secure-json-parse|avvio|light-my-request|fast-querystring|toad-cache|process-warning|abstract-logging|ajv)/,
    'HTTP and JSON (node:http, Fastify)',
  ],
  [/^node:/, 'HTTP and JSON (node:http, Fastify)'],
  [/src\//, 'other modelgate code'],
];

/**
 * `window`: only samples taken between these two times (µs, the monotonic clock of
 * process.hrtime, which V8's profile timestamps share), so the server's start-up (loading
 * sources, migrations, compiling and checking the model) is not spread over the requests.
 */
export function cpuParts(p: CpuProfile, requests: number, window?: { from: number; to: number }): CpuParts {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const part = new Map<number, string>();
  const partOf = (id: number): string => {
    const known = part.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    const f = n.callFrame;
    let result: string;
    if (f.functionName === '(garbage collector)') result = 'garbage collection';
    else if (f.functionName === '(idle)') result = 'idle';
    else if (f.functionName === '(program)' || f.functionName === '(root)') result = 'other (V8, native)';
    else if (!f.url) result = parent.has(id) ? partOf(parent.get(id)!) : 'other (V8, native)';
    else result = RULES.find(([re]) => re.test(f.url.replace(/^file:\/\//, '')))?.[1] ?? 'other (libraries)';
    part.set(id, result);
    return result;
  };
  const us = new Map<string, number>();
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    at += p.timeDeltas[i] ?? 0;
    if (window && (at < window.from || at > window.to)) return;
    const name = partOf(id);
    if (name !== 'idle') us.set(name, (us.get(name) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  if (window && !us.size) throw new Error(`no profile samples between ${window.from} and ${window.to} µs (the profile runs from ${p.startTime}): the clocks differ`);
  const parts = Object.fromEntries([...us].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / requests]));
  return { requests, parts, totalUs: [...us.values()].reduce((a, b) => a + b, 0) / requests };
}
