import { describe, expect, it } from 'vitest';
import { startPeriodic } from './periodic.js';
import { createLogger } from './logger.js';
import { ManualTimers, settle } from '../../test/helpers/manual-timers.js';

const log = createLogger('silent');

describe('startPeriodic', () => {
  it('keeps one armed timer per job however long it runs, and runs once per interval', async () => {
    const t = new ManualTimers();
    let runs = 0;
    const job = startPeriodic({ run: async () => void runs++, intervalMs: 1_000, jitter: 0, log, what: 'test', timers: t });
    expect(t.armed).toBe(1);
    for (let i = 0; i < 1_000; i++) await t.advance(1_000);
    expect(runs).toBe(1_000);
    // The leak this replaced pushed a handle per tick onto a list it never emptied.
    expect(t.armed).toBe(1);
    await job.stop();
    expect(t.armed).toBe(0);
  });

  it('never starts a run while the previous one is still going', async () => {
    const t = new ManualTimers();
    let active = 0;
    let most = 0;
    let release!: () => void;
    const job = startPeriodic({
      run: () => {
        active++;
        most = Math.max(most, active);
        return new Promise<void>((r) => (release = () => (active--, r())));
      },
      intervalMs: 100,
      jitter: 0,
      log,
      what: 'test',
      timers: t,
    });
    await t.advance(100);
    expect(active).toBe(1);
    await t.advance(10_000); // a slow run: no second one starts meanwhile
    expect(t.armed).toBe(0);
    release();
    await settle();
    expect(t.armed).toBe(1);
    await t.advance(100);
    expect(active).toBe(1);
    release();
    await job.stop();
    expect(most).toBe(1);
  });

  it('stop() waits for the run in progress, and no run follows it', async () => {
    const t = new ManualTimers();
    let finish!: () => void;
    let runs = 0;
    const job = startPeriodic({ run: () => (runs++, new Promise<void>((r) => (finish = r))), intervalMs: 50, jitter: 0, log, what: 'test', timers: t });
    await t.advance(50);
    let stopped = false;
    const stopping = job.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
    await t.advance(1_000);
    expect(runs).toBe(1);
    expect(t.armed).toBe(0);
  });

  it('a failed run is reported and the next one comes at the usual time', async () => {
    const t = new ManualTimers();
    const errors: string[] = [];
    let runs = 0;
    const job = startPeriodic({
      run: async () => {
        runs++;
        if (runs === 1) throw new Error('database down');
      },
      intervalMs: 200,
      jitter: 0,
      log,
      what: 'test',
      timers: t,
      onError: (e) => errors.push((e as Error).message),
    });
    await t.advance(200);
    expect(errors).toEqual(['database down']);
    await t.advance(200);
    expect(runs).toBe(2);
    await job.stop();
  });

  it('says a failure once, again only when the error changes, and how many runs failed once one works', async () => {
    const t = new ManualTimers();
    const lines: string[] = [];
    const captured = createLogger('info', { write: (l: string) => lines.push(l) });
    const outcomes = ['database down', 'database down', 'database down', 'disk full', 'disk full', 'ok', 'database down'];
    let runs = 0;
    const job = startPeriodic({
      run: async () => {
        const o = outcomes[runs++];
        if (o !== 'ok') throw new Error(o);
      },
      intervalMs: 100,
      jitter: 0,
      log: captured,
      what: 'test job',
      timers: t,
    });
    for (let i = 0; i < outcomes.length; i++) await t.advance(100);
    expect(runs).toBe(outcomes.length);
    const said = lines.map((l) => JSON.parse(l) as { level: string; msg: string; err?: string; failed_runs?: number });
    expect(said.map((l) => [l.level, l.err ?? l.failed_runs])).toEqual([
      ['warn', 'database down'],
      ['warn', 'disk full'],
      ['info', 5],
      ['warn', 'database down'],
    ]);
    expect(said[2].msg).toBe('test job works again after 5 failed runs');
    await job.stop();
  });

  it('jitter only ever delays, by at most its share of the interval', async () => {
    const t = new ManualTimers();
    const at: number[] = [];
    const job = startPeriodic({ run: async () => void at.push(t.now().getTime()), intervalMs: 1_000, jitter: 0.1, log, what: 'test', timers: t });
    for (let i = 0; i < 200; i++) await t.advance(50);
    const gaps = at.slice(1).map((x, i) => x - at[i]);
    expect(gaps.length).toBeGreaterThan(5);
    for (const g of gaps) expect(g >= 1_000 && g <= 1_100 + 50).toBe(true);
    await job.stop();
  });
});
