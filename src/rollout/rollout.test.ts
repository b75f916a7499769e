import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanaryRouter, hashBucket } from '../inference/index.js';
import { openDb, migrate, type Db } from '../db/index.js';
import { createLogger } from '../lib/logger.js';
import { histogramQuantile, psi } from '../monitoring/index.js';
import { DIALECTS, dropDb, freshDb, type DbLocation } from '../../test/helpers/db.js';
import { analyse, analysisSchema } from './analysis.js';
import { createLeader } from './leader.js';
import { emptyCounts, latencyBin, scoreBin, type ArmCounts } from './stats.js';

describe('canary routing', () => {
  it('over 10,000 distinct entities the realised split is within ±1 point of the setting', () => {
    for (const percent of [1, 10, 25, 50, 90]) {
      let canary = 0;
      for (let i = 0; i < 10_000; i++) if (hashBucket(`customer-${i}`, 'churn:2026-11-23T10:00:00Z') < percent * 100) canary++;
      expect(Math.abs(canary / 100 - percent), `percent ${percent}`).toBeLessThanOrEqual(1);
    }
  });

  it('requests without a key also split within ±1 point', () => {
    const r = new CanaryRouter();
    let canary = 0;
    for (let i = 0; i < 10_000; i++) if (r.toCanary(25, 'salt', undefined)) canary++;
    expect(Math.abs(canary / 100 - 25)).toBeLessThanOrEqual(1);
  });

  it('is sticky, monotone in the percent, and reshuffles between rollouts', () => {
    const r = new CanaryRouter();
    const at10 = Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'a', `k${i}`));
    const at50 = Array.from({ length: 1000 }, (_, i) => r.toCanary(50, 'a', `k${i}`));
    at10.forEach((c, i) => c && expect(at50[i]).toBe(true));
    expect(Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'a', `k${i}`))).toEqual(at10);
    const other = Array.from({ length: 1000 }, (_, i) => r.toCanary(10, 'b', `k${i}`));
    expect(other).not.toEqual(at10);
    expect(r.toCanary(0, 'a', 'x')).toBe(false);
    expect(r.toCanary(100, 'a', 'x')).toBe(true);
  });
});

describe('statistics', () => {
  it('PSI matches a hand computation', () => {
    // Expected shares 0.5/0.3/0.2, actual 0.4/0.4/0.2: sum (a-e) ln(a/e).
    const expected = (0.4 - 0.5) * Math.log(0.4 / 0.5) + (0.4 - 0.3) * Math.log(0.4 / 0.3);
    expect(psi([50, 30, 20], [40, 40, 20])).toBeCloseTo(expected, 12);
    expect(psi([10, 10], [10, 10])).toBe(0);
  });

  it('histogram quantiles interpolate inside the bin (Prometheus histogram_quantile)', () => {
    // 10 in (0,1], 10 in (1,2]: the median is the top of the first bin, p75 is half-way through the second.
    expect(histogramQuantile([10, 10, 0], [1, 2], 0.5)).toBe(1);
    expect(histogramQuantile([10, 10, 0], [1, 2], 0.75)).toBe(1.5);
    expect(histogramQuantile([0, 0, 5], [1, 2], 0.9)).toBe(2);
    expect(latencyBin(0.1)).toBe(0);
    expect(scoreBin(1)).toBe(19);
    expect(scoreBin(0)).toBe(0);
  });
});

describe('analysis rules', () => {
  const arm = (requests: number, errors: number, latencyMs: number, acted: number): ArmCounts => {
    const c = emptyCounts();
    c.requests = requests;
    c.errors = errors;
    c.latency[latencyBin(latencyMs)] = requests;
    c.decisions = { act: acted, none: requests - errors - acted };
    c.scores[scoreBin(acted / requests)] = requests - errors;
    return c;
  };
  const rules = analysisSchema.parse({ max_decision_rate_delta_pp: 10, custom: [{ metric: 'decision_rate:act', op: '>', threshold: 0.9 }] });

  it('waits for min_requests before judging', () => {
    expect(analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(100, 50, 1, 10) }, rules, 200).status).toBe('insufficient_data');
  });

  it('uses the error floor when production has no errors, and the ratio above it', () => {
    const ok = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 10, 1, 300) }, rules, 200);
    expect(ok.status).toBe('healthy'); // 1% ≤ max(0, 1%) × 1.5
    const bad = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 20, 1, 300) }, rules, 200);
    expect(bad.failed).toMatchObject({ metric: 'error_rate', observed: 0.02, threshold: 0.015 });
  });

  it('flags slow canaries, decision-rate shifts and custom rules', () => {
    const slow = analyse({ version: 1, counts: arm(1000, 0, 4, 300) }, { version: 2, counts: arm(1000, 0, 40, 300) }, rules, 200);
    expect(slow.failed?.metric).toBe('p95_ms');
    const shifted = analyse({ version: 1, counts: arm(1000, 0, 1, 300) }, { version: 2, counts: arm(1000, 0, 1, 500) }, rules, 200);
    expect(shifted.failed).toMatchObject({ metric: 'decision_rate_delta_pp:act' });
    expect(shifted.failed!.observed).toBeCloseTo(20, 9);
    const custom = analyse({ version: 1, counts: arm(1000, 0, 1, 950) }, { version: 2, counts: arm(1000, 0, 1, 950) }, rules, 200);
    expect(custom.failed).toMatchObject({ metric: 'decision_rate:act', threshold: 0.9 });
  });
});

describe.each(DIALECTS)('leader election on %s', (dialect) => {
  let loc: DbLocation;
  let db: Db;
  const log = createLogger('silent');
  beforeAll(async () => {
    loc = freshDb(dialect);
    db = await openDb(loc);
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await dropDb(loc);
  });

  it('one holder at a time; another takes over when the leader goes away', async () => {
    const a = createLeader(db, 'job', 'replica-a', 1000, log);
    const b = createLeader(db, 'job', 'replica-b', 1000, log);
    const t0 = 1_000_000;
    expect(await a.acquire(t0)).toBe(true);
    expect(await b.acquire(t0 + 10)).toBe(false);
    expect(await a.acquire(t0 + 500)).toBe(true); // renewal
    expect(await b.acquire(t0 + 900)).toBe(false);
    if (dialect === 'sqlite') {
      // The leader stops renewing (crashed): its lease runs out and b takes over.
      expect(await b.acquire(t0 + 500 + 1001)).toBe(true);
      expect(await a.acquire(t0 + 1600)).toBe(false);
    } else {
      // The leader's connection closes (crashed): PostgreSQL frees the advisory lock at once.
      await a.release();
      expect(await b.acquire(t0 + 1000)).toBe(true);
      expect(await a.acquire(t0 + 1100)).toBe(false);
    }
    await a.release();
    await b.release();
  });
});
