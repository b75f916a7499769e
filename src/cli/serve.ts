import cluster from 'node:cluster';
import type { Command } from 'commander';
import { loadConfig, unreadVariables, type Config } from '../config.js';
import { usableCores } from '../lib/container-limits.js';
import { createServerLogger, type Logger } from '../lib/logger.js';
import { openContext } from '../server/context.js';
import type { RunningServer } from '../server/start.js';
import { fail, type OutputOptions } from './output.js';
import { openWaitingRoom, type WaitingRoom } from '../server/waiting-room.js';
import { AppError } from '../lib/errors.js';
import { urlHost } from '../lib/url-host.js';

/**
 * On SIGTERM/SIGINT: fail readiness at once but keep serving for SHUTDOWN_DELAY_MS (so a load
 * balancer stops routing here first), then stop accepting connections, finish the requests in
 * flight, release models and connections, and exit 0.
 */
export function closeOnSignals(server: RunningServer, log: Logger, delayMs: number, graceMs: number): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    server.drain();
    log.info({ signal, delay_ms: delayMs }, 'shutting down: readiness now fails; draining in-flight requests');
    const force = setTimeout(
      () => {
        log.error('shutdown took over SHUTDOWN_GRACE_MS + 15 s after the delay; exiting');
        process.exit(1);
      },
      delayMs + graceMs + 15_000,
    );
    force.unref();
    setTimeout(() => {
      server.close().then(
        () => {
          // The last line an operator sees after Ctrl-C or SIGTERM: it finished, cleanly, or with
          // the audit records the database refused still on this disk, which a new volume would lose.
          const waiting = server.audit.waitingOnDisk;
          if (waiting.records > 0) {
            log.warn(
              { signal, audit_records_on_disk: waiting.records, spill_dir: waiting.dir },
              `stopped: in-flight requests answered, models released; ${waiting.records} audit records the database refused wait in ${waiting.files === 1 ? 'a spill file' : `${waiting.files} spill files`} in ${waiting.dir}: the next server started with this data directory writes them to the database, so keep the directory when this server is replaced; exiting 0`,
            );
          } else log.info({ signal }, 'stopped: in-flight requests answered, audit log written, models released; exiting 0');
          process.exit(0);
        },
        (e) => {
          log.error({ err: String(e) }, 'shutdown failed');
          process.exit(1);
        },
      );
    }, delayMs);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * Start serving; while the database cannot be reached, keep retrying (1 s, doubling to 10 s)
 * behind a waiting room that answers /healthz 200 and /readyz 503 with the reason, so an
 * orchestrator neither routes traffic here nor restarts the process in a loop. Errors a retry
 * cannot fix (bad configuration, an unwritable data directory) end the process at once.
 */
async function serveOne(config: Config, log: Logger): Promise<RunningServer> {
  let waiting: WaitingRoom | undefined;
  let stopping = false;
  const stopWaiting = () => {
    stopping = true;
    void waiting?.close().finally(() => process.exit(0));
    if (!waiting) process.exit(0);
  };
  // Loaded here, not at the top: every other command would pay for Fastify's import (startup time).
  const { startServer } = await import('../server/start.js');
  for (let attempt = 1, delay = 1000; ; attempt++, delay = Math.min(delay * 2, 10_000)) {
    try {
      const server = await startServer(config, log, { beforeListen: () => (waiting ? waiting.close() : Promise.resolve()) });
      if (attempt > 1) {
        process.off('SIGTERM', stopWaiting);
        process.off('SIGINT', stopWaiting);
        log.info({ attempt }, 'database reachable: serving');
      }
      closeOnSignals(server, log, config.SHUTDOWN_DELAY_MS, config.SHUTDOWN_GRACE_MS);
      return server;
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'UNAVAILABLE') || stopping) throw e;
      const reason = `database unreachable: ${e.message}`;
      log.error({ attempt, retry_in_ms: delay }, `cannot start: ${e.message}; not ready, retrying in ${Math.round(delay / 1000)} s`);
      if (!waiting) {
        waiting = await openWaitingRoom(config.HOST, config.PORT, reason, delay);
        process.on('SIGTERM', stopWaiting);
        process.on('SIGINT', stopWaiting);
      } else waiting.setReason(reason, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** WORKERS > 1: the primary migrates once, then forks workers that share the port. */
async function servePrimary(config: Config, log: Logger, onListening: (url: string, pids: number[]) => void): Promise<void> {
  const ctx = await openContext(config, log);
  try {
    // Without Redis each worker keeps its own counts; the cluster module spreads connections over
    // them, so a key's clients together get up to WORKERS × its rate. Said once, where it is set.
    if (!config.REDIS_URL) {
      const limited = config.RATE_LIMIT_DEFAULT !== undefined || (await ctx.access.list()).some((k) => k.rate_limit !== null && k.status === 'active');
      if (limited)
        log.warn(
          { workers: config.WORKERS },
          `rate limits are counted by each of the ${config.WORKERS} workers on its own (REDIS_URL is unset), so a key may make up to ${config.WORKERS} × its rate; set REDIS_URL to share one count, or WORKERS=1`,
        );
    }
  } finally {
    await ctx.close();
  }
  log.info({ workers: config.WORKERS }, 'starting workers');
  const metrics = (await import('../server/cluster-metrics.js')).clusterMetrics();
  // /health's parts go back as gathered: the worker that asked merges them with its own view.
  (await import('../server/cluster-gather.js')).serveClusterGather({ metrics: metrics.combine, health: (g) => g });
  let stopping = false;
  const listening = new Map<number, string>();
  cluster.on('listening', (worker, address) => {
    listening.set(worker.process.pid ?? 0, `http://${urlHost(address.address ?? config.HOST)}:${address.port}`);
    if (listening.size === config.WORKERS) onListening([...listening.values()][0], [...listening.keys()]);
  });
  for (let i = 0; i < config.WORKERS; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const pid = worker.process.pid ?? 0;
    if (!listening.has(pid)) {
      // It never served: a replacement would fail the same way (the port taken, HOST not of this
      // machine), in a loop. Its own error is on stderr above.
      log.error({ pid, code, signal }, 'a worker exited before it could serve; stopping the others and exiting (its error is above)');
      stop('SIGTERM', 1);
      return;
    }
    log.error({ pid, code, signal }, 'worker died; starting a replacement');
    metrics.workerRestarted();
    cluster.fork();
  });
  const stop = (signal: NodeJS.Signals, exitCode = 0) => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    let left = Object.keys(cluster.workers ?? {}).length;
    if (left === 0) process.exit(exitCode);
    cluster.on('exit', () => {
      if (--left <= 0) process.exit(exitCode);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve registered models over HTTP (configuration from environment variables)')
    .option('--port <port>', 'override PORT')
    .option('--host <host>', 'override HOST')
    .option('--json', 'print the bound address as JSON once listening')
    .addHelpText(
      'after',
      '\nExample:\n  MODELGATE_ADMIN_TOKEN=$(openssl rand -hex 24) modelgate serve --port 8080\n  DATABASE_URL=postgres://postgres@127.0.0.1/modelgate WORKERS=auto modelgate serve',
    )
    .action(async (o: OutputOptions & { port?: string; host?: string }) => {
      try {
        const cores = usableCores();
        const config = loadConfig({ ...process.env, ...(o.port ? { PORT: o.port } : {}), ...(o.host ? { HOST: o.host } : {}) }, cores.usable);
        const log = createServerLogger(config.LOG_LEVEL, config.LOG_FORMAT);
        if (cluster.isPrimary) for (const w of unreadVariables()) log.warn(w);
        if (cluster.isPrimary && cores.usable < cores.machine)
          log.info({ cpu_limit: cores.limit, machine_cores: cores.machine }, `the CPU limit is ${cores.limit} (of the machine's ${cores.machine} cores): WORKERS=auto counts ${cores.usable}`);
        if (config.WORKERS > 1 && cluster.isPrimary) {
          await servePrimary(config, log, (url, pids) => {
            if (o.json) process.stdout.write(`${JSON.stringify({ url, pid: process.pid, workers: pids })}\n`);
          });
          return;
        }
        const server = await serveOne(config, log);
        if (o.json && cluster.isPrimary) process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid, workers: [] })}\n`);
      } catch (e) {
        fail(o, e);
      }
    });
}
