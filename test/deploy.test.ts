import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
const PROM = path.join(REPO_ROOT, 'deploy', 'prometheus');

/** promtool comes from Debian's prometheus package (.ci/run installs it). */
async function promtool(...args: string[]) {
  try {
    return await run('promtool', args, { cwd: PROM });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install prometheus (Debian) provides it');
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** Metric names a PromQL text refers to (ours all start with these prefixes). */
const metricNames = (text: string) => new Set([...text.matchAll(/\b((?:modelgate|http_request)_[a-z0-9_]+)\b/g)].map((m) => m[1]));

describe('Prometheus rules and the Grafana dashboard', () => {
  let s: TestServer;
  let exported: Set<string>;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    exported = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(m[1]);
      if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(m[1] + suffix);
    }
  });
  afterAll(() => s?.stop());

  it('promtool check rules: the rule file is valid', async () => {
    const { stdout } = await promtool('check', 'rules', 'alerts.yml');
    expect(stdout).toMatch(/SUCCESS: 24 rules found/);
  });

  it('promtool test rules: each alert fires past its threshold and duration, and not before', async () => {
    const { stdout, stderr } = await promtool('test', 'rules', 'alerts.test.yml');
    expect(`${stdout}${stderr}`).toMatch(/SUCCESS/);
    // A unit test per alert.
    const tests = readFileSync(path.join(PROM, 'alerts.test.yml'), 'utf8');
    const alerts = [...readFileSync(path.join(PROM, 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    for (const a of alerts) expect(tests, a).toMatch(new RegExp(`alertname: ${a}\\b`));
  });

  it('every metric the rules and the dashboard use is one the server exports', () => {
    const rules = metricNames(readFileSync(path.join(PROM, 'alerts.yml'), 'utf8'));
    const dashboard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy', 'grafana', 'modelgate.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const used = new Set([...rules, ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...metricNames(t.expr)]))]);
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    // The panels the on-call engineer looks for.
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('|');
    for (const want of ['request rate', 'latency', '5xx', 'decisions', 'canary', 'drift', 'auc', 'profit', 'cache', 'rate-limit', 'dead letters', 'cpu', 'memory', 'event-loop lag', 'gc', 'readiness'])
      expect(titles).toContain(want);
    // The default process and Node.js metrics the infrastructure panels read are exported too.
    const infra = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]))));
    expect(infra.size).toBeGreaterThanOrEqual(4);
    expect([...infra].filter((n) => !exported.has(n))).toEqual([]);
  });
});
