import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './db.js';
import { freePort } from './redis.js';

// Found when first used, so importing this module on a machine without PostgreSQL does not throw.
const bin = () => path.join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().pop()!, 'bin');

/** Run a PostgreSQL tool as the postgres user (initdb refuses root). */
function asPostgres(tool: string, args: string[]): void {
  const cmd = path.join(bin(), tool);
  const asRoot = process.getuid?.() === 0;
  execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'pipe', timeout: 60_000 });
}

/**
 * A PostgreSQL server of the test's own (initdb + pg_ctl on a spare port), for tests that
 * stop the database: the shared server on 5432 is never touched.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /**
   * tls: the server offers TLS with this certificate and key, and takes TCP connections only
   * over it (hostssl), as managed services do.
   */
  static async create(
    port?: number,
    opts: { tls?: { cert: string; key: string; /** require client certificates signed by this CA (cert authentication) */ clientCa?: string } } = {},
  ): Promise<ThrowawayPostgres> {
    const dir = tempDir('modelgate-pg-');
    const asRoot = process.getuid?.() === 0;
    const owner = asRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) } : undefined;
    if (owner) chownSync(dir, owner.uid, owner.gid);
    asPostgres('initdb', ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    if (opts.tls) {
      // The server reads them as its own user and refuses a key others can read.
      for (const [from, to] of [
        [opts.tls.cert, 'server.crt'],
        [opts.tls.key, 'server.key'],
      ]) {
        copyFileSync(from!, path.join(dir, to!));
        chmodSync(path.join(dir, to!), 0o600);
        if (owner) chownSync(path.join(dir, to!), owner.uid, owner.gid);
      }
      if (opts.tls.clientCa) copyFileSync(opts.tls.clientCa, path.join(dir, 'client-ca.crt'));
      appendFileSync(path.join(dir, 'postgresql.conf'), `ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n${opts.tls.clientCa ? "ssl_ca_file = 'client-ca.crt'\n" : ''}`);
      writeFileSync(path.join(dir, 'pg_hba.conf'), `local all all trust\nhostssl all all 127.0.0.1/32 ${opts.tls.clientCa ? 'cert' : 'trust'}\n`);
    }
    const pg = new ThrowawayPostgres(dir, port ?? (await freePort()));
    pg.start();
    return pg;
  }

  start(): void {
    asPostgres('pg_ctl', ['-D', this.dir, '-l', path.join(this.dir, 'server.log'), '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  }

  /** Immediate shutdown: connections drop as in a crash. */
  stop(): void {
    asPostgres('pg_ctl', ['-D', this.dir, '-m', 'immediate', '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop();
    } catch {
      // already stopped
    }
  }
}
