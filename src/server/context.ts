import type { Config } from '../config.js';
import { openDb, migrate, type Db } from '../db/index.js';
import { smokeTest } from '../inference/index.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { createArtifactStore, createRegistryService, createRegistryStore, type ArtifactStore, type RegistryService } from '../registry/index.js';
import type { DbLocation } from '../db/index.js';

/** The state every entry point shares: database, artifact store and registry. */
export interface Context {
  config: Config;
  log: Logger;
  clock: Clock;
  db: Db;
  artifacts: ArtifactStore;
  registry: RegistryService;
  close(): Promise<void>;
}

export interface ContextOverrides {
  /** Use this database instead of the configured one (tests: a fresh schema). */
  db?: DbLocation;
  artifacts?: ArtifactStore;
  clock?: Clock;
}

export async function openContext(config: Config, log: Logger, overrides: ContextOverrides = {}): Promise<Context> {
  const db = await openDb(overrides.db ?? (config.database.kind === 'sqlite' ? config.database : { kind: 'postgres', url: config.database.url }));
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    throw e;
  }
  const artifacts = overrides.artifacts ?? createArtifactStore(config);
  const clock = overrides.clock ?? systemClock;
  const registry = createRegistryService({
    store: createRegistryStore(db),
    artifacts,
    clock,
    log,
    smokeTest,
    maxModelBytes: config.MAX_MODEL_BYTES,
  });
  return {
    config,
    log,
    clock,
    db,
    artifacts,
    registry,
    async close() {
      await artifacts.close();
      await db.close();
    },
  };
}
