import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import type { Clock, Timers } from '../../src/lib/clock.js';
import type { Authenticator } from '../../src/server/auth.js';
import { dropDb, freshDb, tempDir, type DbLocation } from './db.js';
import { demoModel } from './fixtures.js';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestServer extends RunningServer {
  dataDir: string;
  db: DbLocation;
  env: Record<string, string>;
  auth: { authorization: string };
  stop(): Promise<void>;
}

/** A real server on an isolated database and data directory; `listen` binds a free port. */
export async function startTestServer(
  opts: {
    dialect?: 'sqlite' | 'postgres';
    env?: Record<string, string>;
    listen?: boolean;
    db?: DbLocation;
    dataDir?: string;
    clock?: Clock;
    jobs?: boolean;
    authenticators?: Authenticator[];
    timers?: Timers;
    log?: Logger;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const db = opts.db ?? freshDb(opts.dialect ?? 'sqlite');
  const env: Record<string, string> = {
    MODELGATE_DATA_DIR: dataDir,
    MODELGATE_ADMIN_TOKEN: TOKEN,
    // Webhook receivers in tests listen on 127.0.0.1.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    RELOAD_INTERVAL_MS: '200',
    ARTIFACT_STORE: path.join(dataDir, 'artifacts'),
    ...(db.kind === 'sqlite' ? { DATABASE_URL: `sqlite:${db.file}` } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const server = await startServer(config, opts.log ?? createLogger(config.LOG_LEVEL), {
    db,
    listen: opts.listen ?? false,
    clock: opts.clock,
    jobs: opts.jobs,
    authenticators: opts.authenticators,
    timers: opts.timers,
  });
  return {
    ...server,
    dataDir,
    db,
    env: { ...env, ...(db.kind === 'postgres' ? { DATABASE_URL: `${db.url}?options=-c%20search_path%3D${db.schema}` } : {}) },
    auth: { authorization: `Bearer ${TOKEN}` },
    async stop() {
      await server.close();
      if (!opts.db) await dropDb(db);
    },
  };
}

/** Register the demo model as version 1 of `hotel` on a running test server, make it production, and load it. */
export async function serveDemo(s: TestServer): Promise<void> {
  await s.ctx.registry.register({ model: 'hotel', onnx: demoModel().onnx, actor: 't' });
  await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  await s.pool.refresh(true);
}
