import { describe, expect, it, vi } from 'vitest';
import { DIALECTS } from './helpers/db.js';
import { ManualTimers } from './helpers/manual-timers.js';
import { startTestServer } from './helpers/server.js';

/**
 * Every background loop of a server (audit flush and retention, registry poll, arm statistics
 * flush, canary analysis, monitor, webhook delivery, API key change check and last-used update)
 * runs through one periodic helper on timers the test advances: however many intervals pass,
 * each loop holds one armed timer (the rollout runtime used to keep every tick's handle), and
 * shutdown disarms them all.
 */
describe.each(DIALECTS)('background loops (%s)', (dialect) => {
  it('keep one armed timer each over many intervals, run every interval, and are all disarmed by shutdown', async () => {
    const timers = new ManualTimers(Date.now());
    const s = await startTestServer({
      dialect,
      timers,
      env: { AUDIT_FLUSH_MS: '100', RELOAD_INTERVAL_MS: '300', STATS_FLUSH_INTERVAL_MS: '200', ANALYSIS_INTERVAL_MS: '1000', MONITOR_TICK_MS: '1000', WEBHOOK_TICK_MS: '500' },
    });
    let stopped = false;
    try {
      // audit flush, audit retention, registry poll, arm statistics flush, canary analysis,
      // monitor tick, webhook delivery, API key change check, API key last-used update.
      const loops = 9;
      expect(timers.armed).toBe(loops);
      const intervals = 40;
      for (let i = 0; i < intervals; i++) {
        await timers.advance(1_100);
        // A run does real database work; the next timer is armed only once it has finished.
        await vi.waitFor(() => expect(timers.armed).toBe(loops), { timeout: 20_000, interval: 5 });
      }
      const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      const runs = [...metrics.matchAll(/^modelgate_rollout_analysis_runs_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      // One analysis per 1,000–1,100 ms interval (10 % jitter), over 40 × 1,100 ms.
      expect(runs).toBeGreaterThanOrEqual(intervals - 1);
      expect(runs).toBeLessThanOrEqual(Math.ceil((intervals * 1_100) / 1_000));
      await s.stop();
      stopped = true;
      expect(timers.armed).toBe(0);
    } finally {
      if (!stopped) await s.stop();
    }
  }, 120_000);
});
