import SQLite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDb } from '../../test/helpers/db.js';
import { migrate, openDb } from '../db/index.js';
import { CopyBatch } from './copy-batch.js';
import { createAuditStore, type PredictionRecord } from './store.js';

const record = (i: number): PredictionRecord => ({
  id: `p-${i}`,
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  model: 'm',
  version: 1,
  arm: 'production',
  event_id: `e-${i}`,
  features: JSON.stringify({ x: i, note: 'tab\there' }),
  features_sha256: null,
  score: i / 100,
  decision: i % 2 ? 'act' : 'none',
  latency_ms: 0.25,
  cached: false,
  key_id: null,
  label: null,
});

describe('SQLite audit writes', () => {
  const loc = freshDb('sqlite');
  let close: (() => Promise<void>) | undefined;
  afterAll(() => close?.());

  it('run on their own thread: while another connection holds the write lock the event loop keeps turning, and the batch lands once it is free', async () => {
    const db = await openDb(loc);
    await migrate(db);
    const store = createAuditStore(db);
    close = async () => {
      await store.close();
      await db.close();
    };
    const batch = new CopyBatch();
    for (let i = 0; i < 50; i++) batch.add(record(i));
    const blocker = new SQLite((loc as { file: string }).file);
    blocker.pragma('busy_timeout = 5000');
    blocker.exec('begin immediate');
    let settled = false;
    const written = store.appendFresh(batch).finally(() => (settled = true));
    // A write on the request thread would block here for the busy timeout and then fail.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    blocker.exec('commit');
    blocker.close();
    await written;
    expect(await store.count('m')).toBe(50);
    // Replays skip ids already present, and the text survives the thread hop intact.
    await store.insertMany([record(49), record(50)]);
    expect(await store.count('m')).toBe(51);
    const [first] = await store.query({ model: 'm', limit: 1 });
    expect(first).toMatchObject({ id: 'p-0', event_id: 'e-0', features: { x: 0, note: 'tab\there' }, decision: 'none' });
  });
  it('a smaller batch after a larger one writes only its own rows (the shared buffer is reused), and UTF-8 survives the hop', async () => {
    const db = await openDb(freshDb('sqlite'));
    await migrate(db);
    const store = createAuditStore(db);
    try {
      const large = new CopyBatch();
      for (let i = 100; i < 400; i++) large.add(record(i));
      await store.appendFresh(large);
      const small = new CopyBatch();
      for (let i = 400; i < 403; i++) small.add({ ...record(i), event_id: `é-漢-${i}`, features: JSON.stringify({ note: 'naïve 漢字 ✓' }) });
      await store.appendFresh(small);
      expect(await store.count('m')).toBe(303);
      const rows = await store.query({ model: 'm', eventId: 'é-漢-401', limit: 10 });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: 'p-401', features: { note: 'naïve 漢字 ✓' } });
    } finally {
      await store.close();
      await db.close();
    }
  });
});
