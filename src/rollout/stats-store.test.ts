import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../test/helpers/db.js';
import { turnsDuring } from '../../test/helpers/turns.js';
import { migrate, openDb, type Db } from '../db/index.js';
import { emptyCounts, type Arm, type ArmCounts } from './stats.js';
import { createRolloutStore, STATS_CHUNK_ROWS } from './store.js';

const SINCE = 1_800_000_000_000;

/** Counts with `n` requests, `n % 7` errors and each of them in bins that depend on n. */
function counts(n: number): ArmCounts {
  const c = emptyCounts();
  c.requests = n;
  c.errors = n % 7;
  c.latency[n % c.latency.length] = n;
  c.scores[n % c.scores.length] = n;
  c.decisions = n % 3 === 0 ? { act: n } : { none: n };
  c.score_sum = n / 2;
  return c;
}

for (const dialect of DIALECTS) {
  describe(`canary arm statistics summed from the database on ${dialect}`, () => {
    const loc = freshDb(dialect);
    let db: Db;
    const want = emptyCounts();
    beforeAll(async () => {
      db = await openDb(loc);
      await migrate(db);
      const store = createRolloutStore(db);
      let n = 1;
      const add = async (replica: string, at: number, mine: boolean, other = false) => {
        const c = counts(n++);
        const rows: { model: string; arm: Arm; version: number; counts: ArmCounts }[] = [{ model: 'churn', arm: 'canary', version: 2, counts: c }];
        if (other) rows.push({ model: 'churn', arm: 'production', version: 1, counts: counts(n++) }, { model: 'fraud', arm: 'canary', version: 2, counts: counts(n++) });
        await store.insertStats(rows, replica, at);
        if (mine) {
          want.requests += c.requests;
          want.errors += c.errors;
          c.latency.forEach((v, i) => (want.latency[i] += v));
          c.scores.forEach((v, i) => (want.scores[i] += v));
          for (const [d, v] of Object.entries(c.decisions)) want.decisions[d] = (want.decisions[d] ?? 0) + v;
          want.score_sum += c.score_sum;
        }
      };
      // Before the step: not counted.
      for (let i = 1; i <= 20; i++) await add('a', SINCE - i * 5000, false);
      // Two replicas every 5 s, with other arms and models beside them.
      for (let i = 0; i < STATS_CHUNK_ROWS * 3; i++) for (const r of ['a', 'b']) await add(r, SINCE + i * 5000, true, i % 10 === 0);
      // One bucket written by more replicas than a chunk holds, and one right after it.
      const crowded = SINCE + STATS_CHUNK_ROWS * 3 * 5000;
      for (let r = 0; r < STATS_CHUNK_ROWS + 7; r++) await add(`r${r}`, crowded, true);
      await add('a', crowded + 1, true);
    }, 120_000);
    afterAll(async () => {
      await db?.close();
      await dropDb(loc);
    });

    it("adds every replica's rows of the window once, chunk edges and crowded buckets included", async () => {
      const store = createRolloutStore(db);
      const { result, turns } = await turnsDuring(store.sumStats('churn', 'canary', 2, SINCE));
      expect(result.requests).toBe(want.requests);
      expect(result).toEqual({ ...want, score_sum: expect.closeTo(want.score_sum, 6) as unknown });
      // On SQLite a turn of the event loop between chunks; in one query, none.
      if (dialect === 'sqlite') expect(turns).toBeGreaterThanOrEqual(5);
    });
  });
}
