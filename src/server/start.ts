import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { ModelPool } from '../inference/index.js';
import type { Logger } from '../lib/logger.js';
import { buildApp } from './app.js';
import { openContext, type Context, type ContextOverrides } from './context.js';
import { createMetrics } from './metrics.js';

export interface RunningServer {
  app: FastifyInstance;
  ctx: Context;
  pool: ModelPool;
  /** http://host:port actually bound (port 0 picks a free one). */
  url: string;
  /** Fail readiness from now on, keep serving; call before close() to let load balancers move away. */
  drain(): void;
  close(): Promise<void>;
}

/** Open state, migrate, load production models, build the app; listen unless told not to. */
export async function startServer(config: Config, log: Logger, opts: ContextOverrides & { listen?: boolean } = {}): Promise<RunningServer> {
  const ctx = await openContext(config, log, opts);
  // The gauge reads the pool at scrape time, after both exist.
  const metrics = createMetrics({ loaded: () => pool.loadedVersions() });
  const pool: ModelPool = new ModelPool({
    source: ctx.registry.source,
    runtime: { intraOpThreads: config.ORT_INTRA_OP_THREADS, batch: { maxRows: config.BATCH_MAX_ROWS, maxWaitUs: config.BATCH_MAX_WAIT_US } },
    log,
    maxLoaded: config.MAX_LOADED_VERSIONS,
    events: { loadFailed: (model, version) => metrics.modelLoadFailures.inc({ model, version: String(version) }) },
  });
  try {
    await pool.refresh(true);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'initial model load failed; retrying in the background');
  }
  pool.start(config.RELOAD_INTERVAL_MS);
  let draining = false;
  const app = await buildApp({ config, log, registry: ctx.registry, pool, metrics, draining: () => draining });
  let url = '';
  if (opts.listen !== false) {
    url = await app.listen({ port: config.PORT, host: config.HOST });
  }
  return {
    app,
    ctx,
    pool,
    url,
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      // A keep-alive connection whose last response was still being written when close() began
      // is not idle yet, so one sweep misses it; keep sweeping until the server has closed.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
      await pool.stop();
      await ctx.close();
    },
  };
}
