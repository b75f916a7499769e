import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    opts: {
      tls?: { cert: string; key: string; /** require client certificates signed by this CA (cert authentication) */ clientCa?: string };
      /**
       * A tablespace `small` of this size (say '4m') on a tmpfs that only the server sees (its
       * own mount namespace; needs root, as on the project's machines), made every new
       * table's default: its disk fills for real (fillSmall), while the WAL stays on a roomy one.
       */
      smallTablespace?: string;
    } = {},
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
    if (opts.smallTablespace) {
      pg.small = tempDir('modelgate-pg-small-');
      const ctl = `${path.join(bin(), 'pg_ctl')} -D ${dir} -l ${path.join(dir, 'server.log')} -w -o '${pg.options()}' start`;
      execFileSync(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-ec', `mount -t tmpfs -o size=${opts.smallTablespace} tmpfs ${pg.small}; chown postgres ${pg.small}; runuser -u postgres -- ${ctl} >/dev/null`],
        { stdio: 'pipe', timeout: 60_000 },
      );
      execFileSync('psql', [pg.url, '-qc', `create tablespace small location '${pg.small}'`, '-c', 'alter database postgres set default_tablespace = small'], { stdio: 'pipe' });
    } else pg.start();
    return pg;
  }

  /**
   * A hot standby of `primary` (pg_basebackup -R: streaming replication from it), on a port of
   * its own: it takes connections and reads, refuses every write (SQLSTATE 25006) until
   * promote(), as the old or new node of a real failover does.
   */
  static async standbyOf(primary: ThrowawayPostgres): Promise<ThrowawayPostgres> {
    const dir = tempDir('modelgate-pg-standby-');
    if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
    asPostgres('pg_basebackup', ['-D', dir, '-R', '-X', 'stream', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '--no-sync']);
    const standby = new ThrowawayPostgres(dir, await freePort());
    standby.start();
    return standby;
  }

  /** A standby made the primary (pg_ctl promote): it takes writes from then on. */
  promote(): void {
    asPostgres('pg_ctl', ['-D', this.dir, '-w', 'promote']);
  }

  /** The tmpfs directory of the `small` tablespace, when there is one. */
  small: string | undefined;

  private options(): string {
    return `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  }

  start(): void {
    asPostgres('pg_ctl', ['-D', this.dir, '-l', path.join(this.dir, 'server.log'), '-w', '-o', this.options(), 'start']);
  }

  /** Fill the `small` tablespace's tmpfs to the last byte (fill) or empty it again, in the server's mount namespace. */
  fillSmall(full: boolean): void {
    const pid = readFileSync(path.join(this.dir, 'postmaster.pid'), 'utf8').split('\n')[0];
    const filler = path.join(this.small!, 'filler');
    execFileSync('nsenter', ['-t', pid, '-m', 'sh', '-c', full ? `dd if=/dev/zero of=${filler} bs=64k 2>/dev/null || true` : `rm -f ${filler}`], { stdio: 'pipe' });
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
