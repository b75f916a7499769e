import { describe, expect, it } from 'vitest';
import { mergeWorkerHealth, type HealthReport } from './health.js';

const serving = { model: 'churn', production: 2, serving: 2 };
const healthy: HealthReport = { status: 'healthy', model_loaded: true, models: [serving] };

describe('/health with WORKERS > 1: every worker in one answer', () => {
  it('healthy when every worker is; each listed by pid, in order, without its models', () => {
    const merged = mergeWorkerHealth(healthy, {
      parts: [
        { pid: 30, value: healthy },
        { pid: 12, value: healthy },
      ],
      unanswered: [],
      starting: [],
    });
    expect(merged).toEqual({
      status: 'healthy',
      model_loaded: true,
      models: [serving],
      workers: [
        { pid: 12, status: 'healthy', model_loaded: true },
        { pid: 30, status: 'healthy', model_loaded: true },
      ],
    });
  });

  it('degraded when one worker is, whichever answers: its problems at the top, once, and under its pid', () => {
    const stale = { model: 'churn', production: 3, serving: 2, error: 'out of memory' };
    const down = { model: 'fraud', production: 1, error: 'corrupt artifact' };
    const lagging: HealthReport = {
      status: 'degraded',
      model_loaded: false,
      models: [stale, down],
      stale: [stale],
      unavailable: [down],
      audit: { written: false, since: '2026-12-07T06:00:00.000Z', error: 'database is locked' },
    };
    const alsoDown: HealthReport = { status: 'degraded', model_loaded: false, models: [serving, down], unavailable: [down] };
    const merged = mergeWorkerHealth(healthy, {
      parts: [
        { pid: 7, value: healthy },
        { pid: 8, value: lagging },
        { pid: 9, value: alsoDown },
      ],
      unanswered: [],
      starting: [11],
    });
    expect(merged.status).toBe('degraded');
    expect(merged.model_loaded).toBe(false);
    // The answering worker's own view of its models; the others' problems are named beside it.
    expect(merged.models).toEqual([serving]);
    expect(merged.unavailable).toEqual([down]);
    expect(merged.stale).toEqual([stale]);
    expect(merged.audit).toEqual({ written: false, since: '2026-12-07T06:00:00.000Z', error: 'database is locked' });
    expect(merged.registry).toBeUndefined();
    expect(merged.workers).toEqual([
      { pid: 7, status: 'healthy', model_loaded: true },
      { pid: 8, status: 'degraded', model_loaded: false, stale: [stale], unavailable: [down], audit: lagging.audit },
      { pid: 9, status: 'degraded', model_loaded: false, unavailable: [down] },
      { pid: 11, status: 'starting' },
    ]);
  });

  it('a worker that does not answer makes it degraded; one still starting does not', () => {
    const blocked = mergeWorkerHealth(healthy, { parts: [{ pid: 5, value: healthy }], unanswered: [6], starting: [] });
    expect(blocked.status).toBe('degraded');
    expect(blocked.model_loaded).toBe(true);
    expect(blocked.workers).toEqual([
      { pid: 5, status: 'healthy', model_loaded: true },
      { pid: 6, status: 'unanswered' },
    ]);
    const starting = mergeWorkerHealth(healthy, { parts: [{ pid: 5, value: healthy }], unanswered: [], starting: [6] });
    expect(starting.status).toBe('healthy');
    expect(starting.workers.map((w) => w.status)).toEqual(['healthy', 'starting']);
  });
});
