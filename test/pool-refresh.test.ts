import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOADS_AT_ONCE, ModelPool, type RegistrySource } from '../src/inference/index.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

describe('a forced refresh', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
  });
  afterAll(() => s?.stop());

  it('sees a change made while an earlier refresh was already reading the registry', async () => {
    // The first refresh reads the aliases before the promotion and is held there until after it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reading!: () => void;
    const readStarted = new Promise<void>((r) => (reading = r));
    let hold = true;
    const real = s.ctx.registry.source;
    const source: RegistrySource = {
      ...real,
      aliases: async () => {
        const aliases = await real.aliases();
        if (hold) {
          hold = false;
          reading();
          await held;
        }
        return aliases;
      },
    };
    const pool = new ModelPool({ source, runtime: { intraOpThreads: 1, batch: { maxRows: 8, maxWaitUs: 0 } }, log: s.ctx.log, maxLoaded: 4 });
    try {
      const poll = pool.refresh();
      await readStarted;
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      const forced = pool.refresh(true);
      release();
      await Promise.all([poll, forced]);
      const { servable, arm } = await pool.resolve('hotel');
      expect(servable.spec.version).toBe(1);
      expect(arm).toBe('production');
    } finally {
      await pool.stop();
    }
  });
});

describe('loading many versions', () => {
  let s: TestServer;
  const models = Array.from({ length: 6 }, (_, i) => `many-${i}`);
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    for (const model of models) {
      await s.ctx.registry.register({ model, onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
    }
  });
  afterAll(() => s?.stop());

  it(`loads at most ${LOADS_AT_ONCE} at a time (each check's onnxruntime session costs memory the allocator keeps), and every one of them`, async () => {
    // In flight: from reading a version's artifact to its load being reported.
    let inFlight = 0;
    let most = 0;
    const real = s.ctx.registry.source;
    const source: RegistrySource = {
      ...real,
      fetch: async (model, version) => {
        most = Math.max(most, ++inFlight);
        return real.fetch(model, version);
      },
    };
    const done = () => void inFlight--;
    const pool = new ModelPool({
      source,
      runtime: { intraOpThreads: 1, batch: { maxRows: 8, maxWaitUs: 0 } },
      log: s.ctx.log,
      maxLoaded: 16,
      events: { loaded: done, loadFailed: done },
    });
    try {
      await pool.refresh(true);
      expect(most).toBe(LOADS_AT_ONCE);
      for (const model of models) expect((await pool.resolve(model)).servable.spec).toMatchObject({ model, version: 1 });
    } finally {
      await pool.stop();
    }
  });
});
