import { Writable } from 'node:stream';
import SQLite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDb } from '../../test/helpers/db.js';
import { policyOf } from '../../test/helpers/thread-policy.js';
import { migrate, openDb } from '../db/index.js';
import { createLogger } from '../lib/logger.js';
import { CopyBatch } from './copy-batch.js';
import { SqliteAuditThread } from './sqlite-writer.js';
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
  it('rows go in ten to a statement: every value of every row lands in its own column, and ids already present or repeated in the batch are skipped', async () => {
    const db = await openDb(freshDb('sqlite'));
    await migrate(db);
    const store = createAuditStore(db);
    // Every column differs from row to row, and from the other columns, so a value shifted by one place shows.
    const distinct = (i: number): PredictionRecord => ({
      ...record(i),
      model: `m${i % 3}`,
      version: 100 + i,
      arm: `arm-${i}`,
      event_id: i % 4 ? `e-${i}` : null,
      features_sha256: `sha-${i}`,
      score: i / 7,
      latency_ms: i + 0.5,
      cached: i % 2 === 1,
      key_id: i % 5 ? `k-${i}` : null,
      label: i % 3 ? `l-${i}` : null,
    });
    try {
      await store.appendFresh(batchOf(0, 3));
      // 23 lines: two full statements and three rows alone; ids 1 and 2 are present already, 12 comes twice.
      const b = new CopyBatch();
      for (let i = 1; i < 23; i++) b.add(distinct(i));
      b.add({ ...distinct(12), arm: 'second copy' });
      await store.appendFresh(b);
      const rows = new Map((await store.query({ limit: 100 })).map((r) => [r.id, r]));
      expect(rows.size).toBe(23);
      expect(rows.get('p-1')).toMatchObject({ model: 'm', arm: 'production', version: 1 });
      expect(rows.get('p-12')).toMatchObject({ arm: 'arm-12' });
      for (let i = 3; i < 23; i++) {
        const want = distinct(i);
        expect(rows.get(`p-${i}`), `row ${i}`).toMatchObject({
          at: want.at,
          model: want.model,
          version: want.version,
          arm: want.arm,
          event_id: want.event_id,
          features: JSON.parse(want.features!),
          features_sha256: want.features_sha256,
          score: want.score,
          decision: want.decision,
          latency_ms: want.latency_ms,
          cached: want.cached,
          key_id: want.key_id,
          label: want.label,
        });
      }
    } finally {
      await store.close();
      await db.close();
    }
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

const batchOf = (from: number, to: number) => {
  const b = new CopyBatch();
  for (let i = from; i < to; i++) b.add(record(i));
  return b;
};

describe("the SQLite audit thread's priority (Linux)", () => {
  async function setup() {
    const loc = freshDb('sqlite');
    const db = await openDb(loc);
    await migrate(db);
    const count = () => Number(new SQLite((loc as { file: string }).file, { readonly: true }).prepare('select count(*) n from predictions').pluck().get());
    return { file: (loc as { file: string }).file, db, count };
  }

  it('idle: the thread runs under SCHED_IDLE, not the policy of the process, and writes land', async () => {
    const { file, db, count } = await setup();
    const thread = new SqliteAuditThread(file, { priority: 'idle' });
    try {
      expect(await thread.write(batchOf(0, 20).data())).toBe(20);
      const info = thread.info!;
      expect(info).toMatchObject({ priority: 'idle' });
      expect(info.tid).not.toBe(process.pid);
      expect(policyOf(info.tid!)).toBe('SCHED_IDLE');
      expect(policyOf(process.pid)).toBe('SCHED_OTHER');
      expect(count()).toBe(20);
    } finally {
      await thread.close();
      await db.close();
    }
  });

  it('normal (the default): the thread keeps the ordinary policy', async () => {
    const { file, db } = await setup();
    const thread = new SqliteAuditThread(file);
    try {
      await thread.write(batchOf(0, 5).data());
      expect(thread.info).toMatchObject({ priority: 'normal' });
      expect(policyOf(thread.info!.tid!)).toBe('SCHED_OTHER');
    } finally {
      await thread.close();
      await db.close();
    }
  });

  it('a batch that waited longer than starvedMs: the thread is replaced by a normal one, said in the log, and no record is lost', async () => {
    const { file, db, count } = await setup();
    const lines: { msg: string; batch_ms?: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    });
    // Every batch takes longer than 0 ms: the first one finds the idle thread starved.
    const thread = new SqliteAuditThread(file, { priority: 'idle', starvedMs: 0, log: createLogger('info', sink) });
    try {
      await thread.write(batchOf(0, 30).data());
      const idle = thread.info!;
      expect(idle.priority).toBe('idle');
      await thread.write(batchOf(30, 60).data());
      const normal = thread.info!;
      expect(normal.priority).toBe('normal');
      expect(normal.tid).not.toBe(idle.tid);
      expect(policyOf(normal.tid!)).toBe('SCHED_OTHER');
      // Normal for the rest of the process: no further replacement.
      await thread.write(batchOf(60, 90).data());
      expect(thread.info!.tid).toBe(normal.tid);
      expect(count()).toBe(90);
      const warned = lines.filter((l) => l.msg.includes('runs at normal priority from now on'));
      expect(warned).toHaveLength(1);
      expect(warned[0].batch_ms).toBeGreaterThanOrEqual(0);
    } finally {
      await thread.close();
      await db.close();
    }
  });
});
