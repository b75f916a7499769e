import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dropDb, freshDb } from '../../test/helpers/db.js';
import { migrate, openDb, type Db } from '../db/index.js';
import { turnsDuring } from '../../test/helpers/turns.js';
import { createAuditStore, SCAN_ROWS, type AuditStore } from './store.js';

const BASE = Date.parse('2026-11-20T12:00:00Z');
const N = SCAN_ROWS * 2 + 1234;

interface Row {
  id: string;
  at: string;
  model: string;
  version: number;
  decision: string;
}

/** Three records share each millisecond, so spans and pages end inside runs of equal times. */
function rows(): Row[] {
  return Array.from({ length: N }, (_, i) => ({
    id: `p${String((i * 7919) % N).padStart(6, '0')}`,
    at: new Date(BASE + Math.floor(i / 3)).toISOString(),
    model: i % 5 === 0 ? 'fraud' : 'churn',
    version: i % 1500 === 0 ? 2 : 1,
    decision: i % 997 === 0 || i % 998 === 0 ? 'review' : 'none',
  }));
}

const order = (a: { at: string; id: string }, b: { at: string; id: string }) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Every page of a listing, as the route and the console read it: by the last row's (at, id). */
async function allPages(store: AuditStore, q: { model?: string; decision?: string; version?: number; from?: string; to?: string; newestFirst?: boolean; labelled?: boolean }, limit: number) {
  const out: { id: string; at: string }[] = [];
  let after: { at: string; id: string } | undefined;
  for (;;) {
    const page = await store.query({ ...q, limit, after });
    out.push(...page.map((r) => ({ id: r.id, at: r.at })));
    if (page.length < limit) return out;
    after = { at: page[page.length - 1].at, id: page[page.length - 1].id };
  }
}

for (const dialect of DIALECTS) {
  describe(`audit log listings with filters on ${dialect}`, () => {
    const loc = freshDb(dialect);
    let db: Db;
    let store: AuditStore;
    const data = rows();
    beforeAll(async () => {
      db = await openDb(loc);
      await migrate(db);
      store = createAuditStore(db);
      const values = data.map((r) => ({ ...r, arm: 'production', event_id: null, features: null, features_sha256: null, score: 0.5, label: null, latency_ms: 1, cached: 0, key_id: null }));
      for (let i = 0; i < values.length; i += 500)
        await db.kysely
          .insertInto('predictions')
          .values(values.slice(i, i + 500))
          .execute();
    });
    afterAll(async () => {
      await store?.close();
      await db?.close();
      await dropDb(loc);
    });

    it('pages through a rare decision or version exactly, across spans and runs of equal times', async () => {
      const from = new Date(BASE + 2000).toISOString();
      const cases: { q: { model?: string; decision?: string; version?: number; from?: string }; want: (r: Row) => boolean; limits: number[] }[] = [
        { q: { decision: 'review' }, want: (r) => r.decision === 'review', limits: [1, 3, 1000] },
        { q: { model: 'churn', decision: 'review' }, want: (r) => r.model === 'churn' && r.decision === 'review', limits: [1, 3, 1000] },
        { q: { version: 2 }, want: (r) => r.version === 2, limits: [1, 3, 1000] },
        { q: { model: 'fraud', version: 1, from }, want: (r) => r.model === 'fraud' && r.version === 1 && r.at >= from, limits: [7, 1000] },
        // Nearly every record: spans end on runs of equal times that the filter keeps.
        { q: { version: 1 }, want: (r) => r.version === 1, limits: [333, 1000, 5000] },
      ];
      for (const { q, want, limits } of cases) {
        const expected = data
          .filter(want)
          .map((r) => ({ id: r.id, at: r.at }))
          .sort(order);
        expect(expected.length).toBeGreaterThan(2);
        for (const limit of limits) expect(await allPages(store, q, limit), `${JSON.stringify(q)} by ${limit}`).toEqual(expected);
      }
    });

    it('pages newest first exactly, with and without filters and time bounds, across spans and runs of equal times', async () => {
      const from = new Date(BASE + 700).toISOString();
      const to = new Date(BASE + 3001).toISOString();
      const cases: { q: { model?: string; decision?: string; version?: number; from?: string; to?: string }; want: (r: Row) => boolean; limits: number[] }[] = [
        { q: {}, want: () => true, limits: [1000, 4999] },
        { q: { model: 'churn', from, to }, want: (r) => r.model === 'churn' && r.at >= from && r.at < to, limits: [7, 1000] },
        { q: { decision: 'review' }, want: (r) => r.decision === 'review', limits: [1, 3, 1000] },
        { q: { model: 'fraud', version: 1, to }, want: (r) => r.model === 'fraud' && r.version === 1 && r.at < to, limits: [7, 1000] },
        { q: { version: 1 }, want: (r) => r.version === 1, limits: [333, 5000] },
      ];
      for (const { q, want, limits } of cases) {
        const expected = data
          .filter(want)
          .map((r) => ({ id: r.id, at: r.at }))
          .sort(order)
          .reverse();
        expect(expected.length).toBeGreaterThan(2);
        for (const limit of limits) expect(await allPages(store, { ...q, newestFirst: true }, limit), `${JSON.stringify(q)} by ${limit}`).toEqual(expected);
      }
      // The first page is the newest records, whatever the limit.
      const [newest] = await store.query({ limit: 1, newestFirst: true });
      expect(newest.id).toBe([...data].sort(order).at(-1)!.id);
    });

    it('each record carries its outcome: a binary label, a class or a value, with the reported profit and time; null without one', async () => {
      const sorted = [...data].sort(order);
      const at = '2026-11-21T08:00:00.000Z';
      const outcome = (prediction_id: string, o: { label?: number; actual_class?: string; actual_value?: number; value?: number }) => ({
        prediction_id,
        model: 'churn',
        event_id: null,
        label: o.label ?? null,
        actual_class: o.actual_class ?? null,
        actual_value: o.actual_value ?? null,
        value: o.value ?? null,
        at,
        key_id: null,
      });
      await db.kysely
        .insertInto('feedback')
        .values([
          outcome(sorted[0].id, { label: 1, value: -12.5 }),
          outcome(sorted[1].id, { actual_class: 'France' }),
          outcome(sorted[2].id, { actual_value: 81.25 }),
          outcome(sorted[3].id, { label: 0 }),
        ])
        .execute();
      const page = await store.query({ limit: 5 });
      expect(page.map((r) => r.id)).toEqual(sorted.slice(0, 5).map((r) => r.id));
      expect(page.map((r) => [r.outcome, r.outcome_value, r.outcome_at])).toEqual([
        [1, -12.5, at],
        ['France', null, at],
        [81.25, null, at],
        [0, null, at],
        [null, null, null],
      ]);
      // Filters still name the prediction's own columns (feedback has a model and a time of its own).
      expect((await store.query({ model: 'fraud', limit: 3, from: new Date(BASE).toISOString() })).every((r) => r.model === 'fraud')).toBe(true);
      // Only the labelled ones (a training-data export), paged across spans: two more far apart.
      await db.kysely
        .insertInto('feedback')
        .values([outcome(sorted[SCAN_ROWS + 5].id, { label: 1 }), outcome(sorted[N - 1].id, { label: 0 })])
        .execute();
      const labelled = [0, 1, 2, 3, SCAN_ROWS + 5, N - 1].map((i) => ({ id: sorted[i].id, at: sorted[i].at }));
      for (const limit of [1, 2, 1000]) expect(await allPages(store, { labelled: true }, limit), `by ${limit}`).toEqual(labelled);
    });

    if (dialect === 'sqlite') {
      it('gives the event loop turns while a filter that matches nothing reads the whole range', async () => {
        const { result: found, turns } = await turnsDuring(store.query({ decision: 'escalate', limit: 50 }));
        expect(found).toEqual([]);
        // A turn between spans of SCAN_ROWS records: N / SCAN_ROWS spans; one query (and no turn) before.
        expect(turns).toBeGreaterThanOrEqual(Math.floor(N / SCAN_ROWS));
      });
    }
  });
}
