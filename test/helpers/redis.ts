import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './db.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface RedisOptions {
  /** Listen only for TLS, with this certificate and key (rediss://); with ca, replicate over TLS too, trusting it. */
  tls?: { cert: string; key: string; ca?: string; authClients?: boolean };
  /** requirepass: clients must authenticate. */
  password?: string;
  /** A node of a Redis Cluster (ThrowawayRedisCluster joins them). */
  cluster?: boolean;
}

/**
 * A throwaway redis-server on its own port, for tests that stop or kill Redis: the shared
 * instance on 6379 is never touched.
 */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  private readonly dir = tempDir('modelgate-redis-');
  constructor(
    readonly port: number,
    private readonly opts: RedisOptions = {},
  ) {}

  get url(): string {
    return `${this.opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  static async create(opts: RedisOptions = {}): Promise<ThrowawayRedis> {
    const r = new ThrowawayRedis(await freePort(), opts);
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    const { tls, password } = this.opts;
    const listen = tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(this.port),
          '--tls-cert-file',
          tls.cert,
          '--tls-key-file',
          tls.key,
          // authClients: Redis's own default with TLS, a client certificate signed by ca required.
          '--tls-auth-clients',
          tls.authClients ? 'yes' : 'no',
          ...(tls.ca ? ['--tls-ca-cert-file', tls.ca, '--tls-replication', 'yes'] : []),
        ]
      : ['--port', String(this.port)];
    // With TLS, the cluster bus takes only TLS too (the plain port is closed).
    const clustered = this.opts.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', ...(tls ? ['--tls-cluster', 'yes'] : [])] : [];
    // masterauth too: a replica of a node with a password authenticates to it with the same one.
    const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...(password ? ['--requirepass', password, '--masterauth', password] : []), ...clustered];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (/Ready to accept connections/.test(out)) resolve();
      };
      child.stdout!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  }

  /** SIGKILL: an abrupt outage, no goodbye to clients. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }
}

/** A port whose cluster bus port (+10,000) is free too, below 55,536 as Redis Cluster requires. */
async function freeClusterPort(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if ((await free(port)) && (await free(port + 10_000))) return port;
  }
}

/**
 * A throwaway Redis Cluster of three primaries (no replicas) on ports of its own, each slot
 * range owned by one node, as a managed cluster-mode Redis is.
 */
export class ThrowawayRedisCluster {
  private constructor(
    readonly nodes: ThrowawayRedis[],
    private readonly tls?: RedisOptions['tls'],
  ) {}

  /** redis-cli's arguments for a node of this cluster. */
  private static cli(port: number, tls: RedisOptions['tls']): string[] {
    return ['-p', String(port), ...(tls ? ['--tls', '--cacert', tls.ca!, '--cert', tls.cert, '--key', tls.key] : [])];
  }

  /** The URL of one node (a cluster client learns the others from it). */
  get url(): string {
    return this.nodes[0]!.url;
  }

  /** With tls (a ca given), every node takes only TLS, the cluster bus too; with tls.authClients, only clients with a certificate the ca signed. */
  static async create(opts: { tls?: RedisOptions['tls'] } = {}): Promise<ThrowawayRedisCluster> {
    const { tls } = opts;
    const nodes: ThrowawayRedis[] = [];
    for (let i = 0; i < 3; i++) {
      const node = new ThrowawayRedis(await freeClusterPort(), { cluster: true, tls });
      await node.start();
      nodes.push(node);
    }
    const cli = (port: number) => ThrowawayRedisCluster.cli(port, tls);
    execFileSync('redis-cli', [...cli(nodes[0]!.port), '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      stdio: 'pipe',
      timeout: 30_000,
    });
    // The nodes agree on the slots a moment after create returns.
    for (let i = 0; i < 100; i++) {
      const states = nodes.map((n) => execFileSync('redis-cli', [...cli(n.port), 'cluster', 'info']).toString());
      if (states.every((s) => /cluster_state:ok/.test(s))) return new ThrowawayRedisCluster(nodes, tls);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the Redis Cluster did not reach cluster_state:ok in 10 s');
  }

  /** Keys stored on each node. */
  keysPerNode(): number[] {
    return this.nodes.map((n) =>
      Number(
        execFileSync('redis-cli', [...ThrowawayRedisCluster.cli(n.port, this.tls), 'dbsize'])
          .toString()
          .trim(),
      ),
    );
  }

  /** Client connections each node has, not counting the redis-cli that asks. */
  clientsPerNode(): number[] {
    return this.nodes.map((n) => {
      const info = execFileSync('redis-cli', [...ThrowawayRedisCluster.cli(n.port, this.tls), 'info', 'clients']).toString();
      return Number(/^connected_clients:(\d+)/m.exec(info)?.[1]) - 1;
    });
  }

  async kill(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
  }
}

/**
 * A Redis primary, one replica and one Sentinel monitoring them as `mymaster` (quorum 1), all of
 * the test's own, as a Sentinel-managed Redis is run (Bitnami's chart with sentinel.enabled).
 * With a password, the nodes and the Sentinel all require it (that chart's default).
 */
export class ThrowawayRedisSentinel {
  private constructor(
    readonly nodes: [ThrowawayRedis, ThrowawayRedis],
    readonly sentinelPort: number,
    private readonly sentinel: ChildProcess,
    private readonly opts: { password?: string; sentinelPassword?: string | null; tls?: { cert: string; key: string; ca: string; authClients?: boolean } },
  ) {}

  static readonly NAME = 'mymaster';

  /** redis-cli's arguments for a node or Sentinel of this setup on port. */
  private static cli(port: number, o: ThrowawayRedisSentinel['opts'], password: string | undefined): string[] {
    return ['-p', String(port), ...(password ? ['-a', password, '--no-auth-warning'] : []), ...(o.tls ? ['--tls', '--cacert', o.tls.ca, '--cert', o.tls.cert, '--key', o.tls.key] : [])];
  }

  /** With tls, every node and the Sentinel take only TLS (replication and monitoring too), trusting tls.ca; with authClients, only clients with a certificate tls.ca signed. */
  static async create(opts: ThrowawayRedisSentinel['opts'] = {}): Promise<ThrowawayRedisSentinel> {
    const { password, tls } = opts;
    const nodes = [await ThrowawayRedis.create({ password, tls }), await ThrowawayRedis.create({ password, tls })] as [ThrowawayRedis, ThrowawayRedis];
    execFileSync('redis-cli', [...ThrowawayRedisSentinel.cli(nodes[1].port, opts, password), 'replicaof', '127.0.0.1', String(nodes[0].port)]);
    const port = await freePort();
    const dir = tempDir('modelgate-sentinel-');
    // Sentinel rewrites its configuration file as it learns: it must be one of its own.
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        ...(tls
          ? [
              'port 0',
              `tls-port ${port}`,
              `tls-cert-file ${tls.cert}`,
              `tls-key-file ${tls.key}`,
              `tls-ca-cert-file ${tls.ca}`,
              `tls-auth-clients ${tls.authClients ? 'yes' : 'no'}`,
              'tls-replication yes',
            ]
          : [`port ${port}`]),
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${ThrowawayRedisSentinel.NAME} 127.0.0.1 ${nodes[0].port} 1`,
        // The nodes' password, for the Sentinel's own connections to them; its own is sentinelPassword (null: none), else the same.
        ...(password ? [`sentinel auth-pass ${ThrowawayRedisSentinel.NAME} ${password}`] : []),
        ...(ThrowawayRedisSentinel.ownPassword(opts) ? [`requirepass ${ThrowawayRedisSentinel.ownPassword(opts)}`] : []),
        `sentinel down-after-milliseconds ${ThrowawayRedisSentinel.NAME} 1000`,
        `sentinel failover-timeout ${ThrowawayRedisSentinel.NAME} 10000`,
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      sentinel.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/\+monitor master/.test(out)) resolve();
      });
      sentinel.on('exit', (code) => reject(new Error(`redis-server --sentinel exited with ${code}: ${out}`)));
    });
    const s = new ThrowawayRedisSentinel(nodes, port, sentinel, opts);
    // A failover needs a replica the Sentinel knows of (it learns them from the primary's INFO).
    for (let i = 0; i < 300 && !s.ask('sentinel', 'replicas', ThrowawayRedisSentinel.NAME).includes(String(nodes[1].port)); i++) await new Promise((r) => setTimeout(r, 100));
    return s;
  }

  /** The password the Sentinel itself asks for, if any. */
  private static ownPassword(o: ThrowawayRedisSentinel['opts']): string | undefined {
    return o.sentinelPassword === undefined ? o.password : (o.sentinelPassword ?? undefined);
  }

  /** redis-cli against the Sentinel. */
  ask(...args: string[]): string {
    return execFileSync('redis-cli', [...ThrowawayRedisSentinel.cli(this.sentinelPort, this.opts, ThrowawayRedisSentinel.ownPassword(this.opts)), ...args])
      .toString()
      .trim();
  }

  /** Asks the Sentinel to fail over, again until it takes it (it refuses while the replica is not in sync yet). */
  async failover(): Promise<void> {
    let said = '';
    for (let i = 0; i < 150; i++) {
      said = this.ask('sentinel', 'failover', ThrowawayRedisSentinel.NAME);
      if (said === 'OK') return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the Sentinel refused to fail over: ${said}`);
  }

  /** The port of the node the Sentinel names as primary now. */
  primaryPort(): number {
    return Number(this.ask('sentinel', 'get-master-addr-by-name', ThrowawayRedisSentinel.NAME).split('\n')[1]);
  }

  async kill(): Promise<void> {
    if (this.sentinel.exitCode === null) {
      const exited = new Promise((r) => this.sentinel.once('exit', r));
      this.sentinel.kill('SIGKILL');
      await exited;
    }
    await Promise.all(this.nodes.map((n) => n.kill()));
  }
}
