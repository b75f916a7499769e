import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.js';
import { MonitorJob, type Report } from '../src/monitoring/index.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * A server shutting down while its monitor runs reports: each model's run over a day of
 * predictions takes seconds (7.5 s for 1,000,000 in the benchmark), and the tick went on
 * through every model before the shutdown could close the database — past the grace period
 * with a few large models. Now the tick ends after the model it is on.
 */
describe('the monitor job stopped mid-tick', () => {
  let s: TestServer;
  const models = ['alpha', 'bravo', 'charlie'];
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    for (const model of models) {
      await s.ctx.registry.register({ model, onnx: demoModel().onnx, actor: 't' });
      await s.ctx.registry.promote({ model, target: 'production', version: 1, actor: 't' });
    }
  });
  afterAll(() => s?.stop());

  it('ends the tick after the model it is on, and starts no retrain for that report', async () => {
    const ran: string[] = [];
    const told: string[] = [];
    let stopping: Promise<void> | undefined;
    const job: MonitorJob = new MonitorJob({
      // The real service; stop() is called as the first model's report is made, as a SIGTERM would.
      monitoring: {
        ...s.ctx.monitoring,
        run: async (model, windowMs) => {
          ran.push(model);
          const r = await s.ctx.monitoring.run(model, windowMs);
          stopping ??= job.stop();
          return r;
        },
      },
      leader: { acquire: async () => true, release: async () => undefined },
      clock: s.ctx.clock,
      log: createLogger('silent'),
      intervalMs: 0,
      windowMs: 3_600_000,
      tickMs: 60_000,
      gauges: { show: () => undefined, run: () => undefined },
      onReport: async (report: Report) => told.push(report.model),
    });
    await job.tick();
    await stopping;
    expect(ran).toEqual(['alpha']);
    expect(told).toEqual([]);
    // The report it was making is stored; the others are left to the next leader.
    expect(await s.ctx.monitoring.latest('alpha')).toBeDefined();
    expect(await s.ctx.monitoring.latest('bravo')).toBeUndefined();
  });
});
