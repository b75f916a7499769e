import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { REPO_ROOT } from './helpers/fixtures.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML */
const DIR = path.join(REPO_ROOT, 'deploy/compose');
const compose = parse(readFileSync(path.join(DIR, 'compose.yaml'), 'utf8')) as { services: Record<string, any>; volumes: Record<string, unknown> };

/** ${VAR:-default} becomes the default; ${VAR:?message} a stand-in value, as `docker compose` would with VAR set. */
const interpolate = (v: string) => v.replace(/\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, def?: string) => def ?? `stand-in-${name.toLowerCase()}-0123456789abcdef`);

describe('the Compose stack (deploy/compose/compose.yaml)', () => {
  it('has modelgate, PostgreSQL and Redis, and Prometheus and Grafana under the monitoring profile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'modelgate', 'postgres', 'prometheus', 'redis']);
    expect(compose.services.prometheus.profiles).toEqual(['monitoring']);
    expect(compose.services.grafana.profiles).toEqual(['monitoring']);
    for (const s of ['modelgate', 'postgres', 'redis']) expect(compose.services[s].profiles, s).toBeUndefined();
  });

  it('every file a service mounts exists, and every named volume is declared', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of (s.volumes ?? []) as string[]) {
        const [source] = v.split(':');
        if (source.startsWith('.')) expect(existsSync(path.resolve(DIR, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
      }
    }
    expect(existsSync(path.resolve(DIR, compose.services.modelgate.build.context, 'Dockerfile'))).toBe(true);
  });

  it("modelgate's settings are ones it accepts, with the hardening the runbooks require", () => {
    const m = compose.services.modelgate;
    const env = Object.fromEntries(Object.entries(m.environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))]));
    for (const k of Object.keys(env)) expect(CONFIG_VARIABLES, k).toContain(k);
    const config = loadConfig(env);
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://modelgate:modelgate@postgres:5432/modelgate', poolMax: 10 });
    expect(config.REDIS_URL).toBe('redis://redis:6379');
    expect(m).toMatchObject({ read_only: true, user: '1000', cap_drop: ['ALL'], tmpfs: ['/tmp'], security_opt: ['no-new-privileges:true'] });
    // compose stop waits longer than the server's drain.
    expect(Number.parseInt(m.stop_grace_period, 10) * 1000).toBeGreaterThan(config.SHUTDOWN_GRACE_MS);
    expect(m.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  it('Prometheus scrapes modelgate and loads the alert rules; Grafana provisions the datasource and the dashboard', () => {
    const prom = parse(readFileSync(path.join(DIR, 'prometheus.yml'), 'utf8'));
    expect(prom.scrape_configs[0].static_configs[0].targets).toEqual(['modelgate:8080']);
    const mounted = (compose.services.prometheus.volumes as string[]).map((v) => v.split(':')[1]);
    for (const rules of prom.rule_files) expect(mounted).toContain(rules);
    const ds = parse(readFileSync(path.join(DIR, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8'));
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const provider = parse(readFileSync(path.join(DIR, 'grafana/provisioning/dashboards/modelgate.yaml'), 'utf8')).providers[0];
    const dashboardMount = (compose.services.grafana.volumes as string[]).find((v) => v.includes('modelgate.json'))!.split(':')[1];
    expect(path.dirname(dashboardMount)).toBe(provider.options.path);
  });
});
