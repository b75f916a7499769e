import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
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
  /** Listen only for TLS, with this certificate and key (rediss://). */
  tls?: { cert: string; key: string };
  /** requirepass: clients must authenticate. */
  password?: string;
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
    const listen = tls ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-auth-clients', 'no'] : ['--port', String(this.port)];
    const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...(password ? ['--requirepass', password] : [])];
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
