import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './db.js';
import { freePort } from './redis.js';

const BINARY = '/usr/sbin/pgbouncer';

/**
 * A PgBouncer of the test's own in transaction pooling (as managed poolers run), in front of a
 * PostgreSQL server, with one server connection per database and user, so every client's
 * statements run on the same server session in turn.
 */
export class ThrowawayPgBouncer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** The URL of `database` through the pooler. */
  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  static async create(target: { host: string; port: number }): Promise<ThrowawayPgBouncer> {
    if (!existsSync(BINARY)) throw new Error('pgbouncer is not installed: apt-get install -y pgbouncer (the leader-election tests run behind it)');
    const dir = tempDir('modelgate-pgbouncer-');
    const port = await freePort();
    writeFileSync(path.join(dir, 'users.txt'), '"postgres" ""\n');
    writeFileSync(
      path.join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${target.host} port=${target.port}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        `unix_socket_dir = ${dir}`,
        'auth_type = trust',
        `auth_file = ${path.join(dir, 'users.txt')}`,
        'pool_mode = transaction',
        'default_pool_size = 1',
        'max_client_conn = 100',
        'ignore_startup_parameters = extra_float_digits,options',
      ].join('\n') + '\n',
    );
    // PgBouncer will not run as root.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      for (const f of ['', 'users.txt', 'pgbouncer.ini']) chownSync(path.join(dir, f), uid, gid);
    }
    const args = [path.join(dir, 'pgbouncer.ini')];
    const child = spawn(asRoot ? 'runuser' : BINARY, asRoot ? ['-u', 'postgres', '--', BINARY, ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (/process up|listening on/.test(out)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`pgbouncer exited with ${code}: ${out}`)));
    });
    return new ThrowawayPgBouncer(child, port);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
