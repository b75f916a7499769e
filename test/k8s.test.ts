import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.js';
import { REPO_ROOT } from './helpers/fixtures.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are plain JSON */
type Obj = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };

const K8S = path.join(REPO_ROOT, 'deploy/k8s');

function render(overlay: string): Obj[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', path.join(K8S, 'overlays', overlay)], { encoding: 'utf8' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('kubectl is not installed: it renders the kustomize overlays (kubectl has kustomize built in)');
    throw e;
  }
  return parseAllDocuments(text).map((d) => d.toJSON() as Obj);
}

/** The kubernetes-models class for an object: its JSON schema from the Kubernetes API. */
async function modelOf(o: Obj): Promise<new (data: unknown) => { validate(): void }> {
  const module = `kubernetes-models/${o.apiVersion}/${o.kind}`;
  const m = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  if (!m[o.kind]) throw new Error(`no Kubernetes schema for ${o.apiVersion} ${o.kind}`);
  return m[o.kind];
}

const podSpecs = (objs: Obj[]) => objs.filter((o) => o.kind === 'Deployment' || o.kind === 'Job').map((o) => ({ owner: `${o.kind}/${o.metadata.name}`, pod: o.spec.template.spec }));

/** Variables a pod gets that modelgate does not read itself: the AWS SDK's credentials. */
const SDK_VARIABLES = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
const SECRET_LIKE = /TOKEN|SECRET|PASSWORD|DATABASE_URL|REDIS_URL|KEY/;

describe.each(['single-node', 'production'])('kustomize overlay %s', (overlay) => {
  const objs = render(overlay);
  const byKind = (kind: string) => objs.filter((o) => o.kind === kind);

  it('renders, and every object validates against the Kubernetes API schema', async () => {
    expect(objs.length).toBeGreaterThan(5);
    for (const o of objs) {
      const Model = await modelOf(o);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('the schema check can fail: a broken copy of the Deployment is refused', async () => {
    const d = structuredClone(byKind('Deployment')[0]);
    d.spec.replicas = 'three';
    delete d.spec.template.spec.containers[0].name;
    const Model = await modelOf(d);
    expect(() => new Model(d).validate()).toThrow(/replicas must be integer|must have required property 'name'/);
  });

  it('pod security as the runbooks require, probes, resources, pinned images', () => {
    for (const { owner, pod } of podSpecs(objs)) {
      expect(pod.securityContext, owner).toMatchObject({ runAsUser: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.automountServiceAccountToken, owner).toBe(false);
      for (const c of pod.containers) {
        const where = `${owner} container ${c.name}`;
        expect(c.securityContext, where).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        expect(c.resources?.requests?.cpu && c.resources?.requests?.memory, where).toBeTruthy();
        expect(c.resources?.limits?.cpu && c.resources?.limits?.memory, where).toBeTruthy();
        expect(c.image, where).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
        // Only /tmp (and the data volume) are writable, and they are volumes, not the root.
        const mounts = (c.volumeMounts ?? []).map((m: { mountPath: string }) => m.mountPath);
        expect(mounts, where).toContain('/tmp');
        expect(
          mounts.every((m: string) => m === '/tmp' || m === '/data'),
          where,
        ).toBe(true);
        for (const e of c.env ?? []) {
          if (SECRET_LIKE.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${where} ${e.name}`).toBeDefined();
        }
      }
    }
    expect(byKind('Secret')).toEqual([]);
    const [sa] = byKind('ServiceAccount');
    expect((sa as any).automountServiceAccountToken).toBe(false);
  });

  it('the server: probes on the right endpoints, a grace period above the shutdown settings, a preStop pause', () => {
    const [d] = byKind('Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    const [cm] = byKind('ConfigMap');
    const shutdownMs = Number(cm.data!.SHUTDOWN_DELAY_MS) + Number(cm.data!.SHUTDOWN_GRACE_MS) + 5000;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs);
    // Every setting the manifests give is one modelgate reads.
    const given = [...Object.keys(cm.data!), ...podSpecs(objs).flatMap(({ pod: p }) => p.containers.flatMap((x: any) => (x.env ?? []).map((e: { name: string }) => e.name)))];
    for (const name of given) expect(CONFIG_VARIABLES.includes(name) || SDK_VARIABLES.has(name), name).toBe(true);
    expect(byKind('Service')[0].spec.ports[0]).toMatchObject({ port: 80, targetPort: 'http' });
    expect(byKind('PodDisruptionBudget')).toHaveLength(1);
    expect(byKind('NetworkPolicy')).toHaveLength(1);
    // Out to what the settings can name: DNS, PostgreSQL and PgBouncer, Redis (6380: Azure's TLS port) and Sentinel, HTTPS.
    const egress = byKind('NetworkPolicy')[0].spec.egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port));
    expect([...new Set(egress)].sort((a, b) => (a as number) - (b as number))).toEqual([53, 443, 5432, 6379, 6380, 6432, 26379]);
  });

  if (overlay === 'single-node') {
    it('single-node: one replica on a claim, Recreate, no autoscaler, no separate migration job', () => {
      const [d] = byKind('Deployment');
      expect(d.spec.replicas).toBe(1);
      expect(d.spec.strategy).toEqual({ type: 'Recreate' });
      expect(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data')).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'modelgate-data' } });
      expect(byKind('PersistentVolumeClaim')).toHaveLength(1);
      expect(byKind('HorizontalPodAutoscaler')).toEqual([]);
      expect(byKind('Job')).toEqual([]);
      expect(d.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).not.toContain('DATABASE_URL');
    });
  } else {
    it('production: PostgreSQL, Redis and S3 from the Secret, 3 replicas, an autoscaler at 70 % CPU from 2 to 10, spread over nodes', () => {
      const [d] = byKind('Deployment');
      expect(d.spec.replicas).toBe(3);
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string; valueFrom?: unknown }) => [e.name, e.valueFrom]));
      for (const v of ['DATABASE_URL', 'REDIS_URL', 'ARTIFACT_STORE']) expect(env[v], v).toMatchObject({ secretKeyRef: { name: 'modelgate-secrets' } });
      const [hpa] = byKind('HorizontalPodAutoscaler');
      expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { kind: 'Deployment', name: 'modelgate' } });
      expect(hpa.spec.metrics[0].resource).toMatchObject({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
      expect(d.spec.template.spec.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain('kubernetes.io/hostname');
      const [job] = byKind('Job');
      expect(job.spec.template.spec.containers[0].args).toEqual(['migrate', '--json']);
    });
  }
});
