import { createHash } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createMonitoringStore } from '../src/monitoring/index.js';
import { rowPayload } from '../src/training/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { auditRecord } from './helpers/audit-record.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

async function serverWith(dialect: 'sqlite' | 'postgres', env: Record<string, string>, clock?: { now(): Date }): Promise<TestServer> {
  const s = await startTestServer({ dialect, env, jobs: false, clock });
  await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' });
  await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  await s.pool.refresh(true);
  return s;
}

for (const dialect of DIALECTS) {
  describe(`prediction audit log on ${dialect}`, () => {
    let s: TestServer;
    let keyToken = '';
    let keyId = '';
    let t = Date.parse('2026-11-20T12:00:00Z');
    const clock = { now: () => new Date(t) };
    beforeAll(async () => {
      s = await serverWith(dialect, {}, clock);
      const k = await s.ctx.access.create({ name: 'caller', scopes: ['infer', 'read'], actor: 't' });
      keyToken = k.token;
      keyId = k.key.id;
    });
    afterAll(() => s?.stop());

    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, token?: string) => {
      const res = await s.app.inject({
        method,
        url,
        headers: { authorization: token ? `Bearer ${token}` : s.auth.authorization, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { payload: JSON.stringify(body) } : {}),
      });
      return { status: res.statusCode, body: res.json() };
    };

    const replies: { prediction_id: string; score: number; decision: string; cached: boolean }[] = [];

    it('records every prediction: single, repeated (cached) and batch rows, with who asked', async () => {
      // Rows 0-4 three times (the cache takes a row at its second scoring, so the third is a hit), then rows 5-9 once.
      for (let i = 0; i < 20; i++) {
        const r = await call('POST', '/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, i < 15 ? i % 5 : i - 10), event_id: `ev-${i}` }, keyToken);
        expect(r.status).toBe(200);
        replies.push(r.body);
      }
      const batch = await call('POST', '/v1/models/hotel/predict', { instances: [20, 21, 22].map((i) => rowPayload(demo.holdout.data, i)) });
      replies.push(...batch.body.predictions);
      await s.audit.flush();
      expect(await s.ctx.audit.count('hotel')).toBe(23);
      const all = (await call('GET', '/v1/predictions?model=hotel&limit=1000')).body.predictions as Record<string, unknown>[];
      const byId = new Map(all.map((p) => [p.id, p]));
      for (const r of replies) {
        expect(byId.get(r.prediction_id)).toMatchObject({ model: 'hotel', version: 1, arm: 'production', score: r.score, decision: r.decision, cached: r.cached });
      }
      expect(all.filter((p) => p.cached)).toHaveLength(5);
      expect(byId.get(replies[3].prediction_id)).toMatchObject({ event_id: 'ev-3', key_id: keyId, features: rowPayload(demo.holdout.data, 3) });
      expect(byId.get(replies[21].prediction_id)).toMatchObject({ event_id: null, key_id: 'admin-token', arm: 'production' });
    });

    it('features survive as sent, whatever the strings hold', async () => {
      const tricky = { ...rowPayload(demo.holdout.data, 30), note: 'quote " backslash \\ brace {} comma , newline \n tab \t unicode é 漢 NULL null' };
      const r = await call('POST', '/v1/infer', { model: 'hotel', payload: tricky, event_id: 'tricky' });
      expect(r.status).toBe(200);
      await s.audit.flush();
      const [rec] = (await call('GET', '/v1/predictions?model=hotel&limit=1000')).body.predictions.filter((p: { event_id: string }) => p.event_id === 'tricky');
      expect(rec.features).toEqual(tricky);
      replies.push(r.body);
    });

    it('pages with a cursor through every record exactly once, oldest first', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/v1/predictions?model=hotel&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
        const r = await call('GET', q);
        expect(r.status).toBe(200);
        seen.push(...r.body.predictions.map((p: { id: string }) => p.id));
        cursor = r.body.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(4);
      expect(new Set(seen).size).toBe(24);
      expect(seen.sort()).toEqual(replies.map((r) => r.prediction_id).sort());
    });

    it('pages newest first with order=newest, and refuses a cursor of the other order', async () => {
      const oldest = (await call('GET', '/v1/predictions?model=hotel&limit=1000')).body.predictions.map((p: { id: string }) => p.id) as string[];
      const seen: string[] = [];
      let cursor: string | null = null;
      let first: string | undefined;
      do {
        const r = await call('GET', `/v1/predictions?model=hotel&order=newest&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        seen.push(...r.body.predictions.map((p: { id: string }) => p.id));
        cursor = r.body.next_cursor;
        first ??= cursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([...oldest].reverse());
      // The last reply's prediction is the newest record.
      expect(seen[0]).toBe(replies[replies.length - 1].prediction_id);
      const mixed = await call('GET', `/v1/predictions?model=hotel&limit=5&cursor=${first}`);
      expect(mixed.status).toBe(400);
      expect(mixed.body.error.message).toMatch(/^query\.cursor: a cursor of the newest-first listing; pass it with order=newest/);
      const oldestCursor = (await call('GET', '/v1/predictions?model=hotel&limit=5')).body.next_cursor;
      expect((await call('GET', `/v1/predictions?model=hotel&order=newest&limit=5&cursor=${oldestCursor}`)).status).toBe(400);
      expect((await call('GET', '/v1/predictions?model=hotel&order=latest')).status).toBe(400);
    });

    it('pages with a cursor and a from filter: every record from then on, exactly once', async () => {
      const all = (await call('GET', '/v1/predictions?model=hotel&limit=1000')).body.predictions as { id: string; at: string }[];
      const from = all[5].at;
      const expected = all.filter((p) => Date.parse(p.at) >= Date.parse(from)).map((p) => p.id);
      expect(expected.length).toBeGreaterThan(10);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await call('GET', `/v1/predictions?model=hotel&limit=4&from=${encodeURIComponent(from)}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        seen.push(...r.body.predictions.map((p: { id: string }) => p.id));
        cursor = r.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(expected);
    });

    it('filters by decision and time; the decision distribution adds up', async () => {
      const acts = (await call('GET', '/v1/predictions?model=hotel&decision=act&limit=1000')).body.predictions;
      const expectedActs = replies.filter((r) => r.decision === 'act').length;
      expect(acts).toHaveLength(expectedActs);
      const future = (await call('GET', '/v1/predictions?from=2999-01-01T00:00:00Z')).body;
      expect(future).toEqual({ predictions: [], next_cursor: null });
      t = Date.now(); // the records were written at wall-clock time
      const d = (await call('GET', '/v1/models/hotel/decisions?window=24h')).body;
      expect(d.total).toBe(24);
      expect(d.decisions.find((x: { decision: string }) => x.decision === 'act')?.count ?? 0).toBe(expectedActs);
      expect(d.decisions.reduce((a: number, x: { rate: number }) => a + x.rate, 0)).toBeCloseTo(1, 9);
    });

    it('filters by event id and version; the CSV export of a filter holds the same records, parsed back', async () => {
      const byEvent = (await call('GET', '/v1/predictions?event_id=ev-7')).body.predictions;
      expect(byEvent.map((p: { id: string }) => p.id)).toEqual([replies[7].prediction_id]);
      expect((await call('GET', '/v1/predictions?model=hotel&version=1&limit=1000')).body.predictions).toHaveLength(24);
      expect((await call('GET', '/v1/predictions?model=hotel&version=2')).body.predictions).toEqual([]);
      expect((await call('GET', '/v1/predictions?version=0')).status).toBe(400);

      const res = await s.app.inject({ method: 'GET', url: '/v1/predictions.csv?model=hotel&decision=act', headers: s.auth });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const rows = parseCsv(res.body, { columns: true }) as Record<string, string>[];
      const acts = replies.filter((r) => r.decision === 'act');
      expect(rows.map((r) => r.id).sort()).toEqual(acts.map((r) => r.prediction_id).sort());
      const first = rows.find((r) => r.id === acts[0].prediction_id)!;
      expect(Number(first.score)).toBe(acts[0].score);
      expect(first.decision).toBe('act');
      // A read-scope credential is needed, as for the JSON pages.
      expect((await s.app.inject({ method: 'GET', url: '/v1/predictions.csv' })).statusCode).toBe(401);
    });

    it('bad cursors and time ranges are 400s that say what to send', async () => {
      for (const q of [
        'cursor=not-a-cursor',
        `cursor=${Buffer.from('["x"]').toString('base64url')}`,
        'from=yesterday',
        'from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z',
        'limit=0',
        'limit=5000',
        'window=forever',
      ]) {
        const r = await call('GET', q.startsWith('window') ? `/v1/models/hotel/decisions?${q}` : `/v1/predictions?${q}`);
        expect(r.status, q).toBe(400);
        expect(r.body.error.code).toBe('VALIDATION_FAILED');
      }
      expect((await call('GET', '/v1/predictions', undefined, 'mg_' + 'x'.repeat(49))).status).toBe(401);
    });

    it('retention deletes records older than PREDICTION_RETENTION_DAYS, in batches', async () => {
      const old = Array.from({ length: 12 }, (_, i) => ({
        id: `old-${dialect}-${i}`,
        at: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000).toISOString(),
        model: 'hotel',
        version: 1,
        arm: 'production',
        event_id: null,
        features: null,
        features_sha256: null,
        score: 0.5,
        decision: 'act',
        latency_ms: 1,
        cached: false,
        key_id: null,
        label: null,
      }));
      const earlier = await s.ctx.audit.count('hotel');
      await s.ctx.audit.insertMany(old);
      // Written twice (a replay after a crash): still once.
      await s.ctx.audit.insertMany(old.slice(0, 3));
      expect(await s.ctx.audit.count('hotel')).toBe(earlier + 12);
      const { RetentionJob } = await import('../src/audit/index.js');
      // Outcomes reported for some of the old records (an event id each), and for a recent prediction.
      const recent = await call('POST', '/v1/infer', { model: 'hotel', event_id: `recent-${dialect}`, payload: rowPayload(demo.holdout.data, 5) });
      expect(recent.status).toBe(200);
      await s.audit.flush();
      const outcomeOf = (id: string) => ({
        prediction_id: id,
        model: 'hotel',
        event_id: `booking-${id}`,
        label: 1,
        actual_class: null,
        actual_value: null,
        value: null,
        at: '2026-01-02T00:00:00.000Z',
        key_id: null,
      });
      await s.ctx.db.kysely
        .insertInto('feedback')
        .values([...old.slice(0, 7).map((r) => outcomeOf(r.id)), { ...outcomeOf(recent.body.prediction_id), at: new Date().toISOString() }])
        .execute();
      const outcomes = async () => (await s.ctx.db.kysely.selectFrom('feedback').select('prediction_id').where('model', '=', 'hotel').execute()).map((r) => r.prediction_id);
      expect(await outcomes()).toHaveLength(8);
      // Monitoring reports: hotel's from January (past retention) and one from May; another model's only report, from January.
      const reports = createMonitoringStore(s.ctx.db);
      const report = (model: string, createdAt: string) =>
        reports.saveReport({ model, version: 1, createdAt, from: createdAt, to: createdAt, predictions: 0, alertsFiring: [], alerts: [], report: { model } });
      const january = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((d) => report(`hotel-${dialect}`, `2026-01-0${d}T00:00:00.000Z`)));
      const may = await report(`hotel-${dialect}`, '2026-05-20T00:00:00.000Z');
      const lonely = await report(`lonely-${dialect}`, '2026-01-03T00:00:00.000Z');
      const reportIds = async (model: string) => (await reports.history(model, 100)).map((r) => r.id);
      expect(await reportIds(`hotel-${dialect}`)).toHaveLength(january.length + 1);
      const before = await s.ctx.audit.count('hotel');
      const job = new RetentionJob({
        store: s.ctx.audit,
        alongside: [{ what: 'monitoring reports', deleteOlderThan: (cutoff, n) => reports.deleteReportsOlderThan(cutoff, n) }],
        clock: { now: () => new Date('2026-06-01T00:00:00Z') },
        log: s.ctx.log,
        retentionDays: 90,
        intervalMs: 1000,
        batch: 5,
      });
      expect(await job.runOnce()).toBe(12);
      expect(await s.ctx.audit.count('hotel')).toBe(before - 12);
      // The outcomes of the deleted records went with them (their event ids too); the recent one stays.
      expect(await outcomes()).toEqual([recent.body.prediction_id]);
      // Reports past retention went too (more than one batch of them), but never a model's latest.
      expect(await reportIds(`hotel-${dialect}`)).toEqual([may]);
      expect(await reportIds(`lonely-${dialect}`)).toEqual([lonely]);
    });

    it('keeps awkward text exactly as sent: tabs, newlines, backslashes, quotes and non-ASCII in event ids and features', async () => {
      // On PostgreSQL fresh records go in by COPY, whose text format gives tab, newline, carriage
      // return and backslash a meaning of their own; each must come back byte for byte.
      const awkward = ['tab\there', 'line\nbreak\r\nwindows', 'back\\slash \\N \\t', 'quote " and \\"escaped\\"', 'ünïcödé 🎯 日本', '\\N', ''];
      const sent = awkward.map((text, i) => ({ event_id: `awk-${i}-${text}`, payload: { ...rowPayload(demo.holdout.data, 30 + i), note: text, [`key\t${i}`]: text } }));
      const ids: string[] = [];
      for (const b of sent) {
        const r = await call('POST', '/v1/infer', { model: 'hotel', ...b });
        expect(r.status).toBe(200);
        ids.push(r.body.prediction_id);
      }
      await s.audit.flush();
      const all = (await call('GET', '/v1/predictions?model=hotel&limit=1000')).body.predictions as Record<string, unknown>[];
      const byId = new Map(all.map((p) => [p.id, p]));
      sent.forEach((b, i) => {
        const got = byId.get(ids[i]);
        expect(got?.event_id).toBe(b.event_id);
        expect(got?.features).toEqual(b.payload);
      });
    });
  });
}

describe('AUDIT_FEATURES', () => {
  it('hashed keeps only the SHA-256 of the canonical values; none keeps neither', async () => {
    for (const mode of ['hashed', 'none'] as const) {
      const s = await serverWith('sqlite', { AUDIT_FEATURES: mode });
      try {
        const payload = rowPayload(demo.holdout.data, 2);
        const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload }) });
        await s.audit.flush();
        const [rec] = await s.ctx.audit.query({ limit: 10 });
        expect(rec.id).toBe(res.json().prediction_id);
        expect(rec.features).toBeNull();
        if (mode === 'hashed') {
          // Independently: the contract's feature order, missing numbers as null.
          const v = await s.ctx.registry.getVersion('hotel', 1);
          const canonical = JSON.stringify(
            v.contract.features.map((f) => (payload[f.name] === undefined || (typeof payload[f.name] === 'number' && Number.isNaN(payload[f.name])) ? null : payload[f.name])),
          );
          expect(rec.features_sha256).toBe(createHash('sha256').update(canonical).digest('hex'));
        } else expect(rec.features_sha256).toBeNull();
      } finally {
        await s.stop();
      }
    }
  });

  it("a payload above AUDIT_PAYLOAD_MAX_BYTES keeps only the version's features, or their hash when even they are above it; smaller ones are kept as sent", async () => {
    const s = await serverWith('sqlite', { AUDIT_PAYLOAD_MAX_BYTES: '4096' });
    try {
      const names = (await s.ctx.registry.getVersion('hotel', 1)).contract.features.map((f) => f.name);
      const base = rowPayload(demo.holdout.data, 3);
      const text = (o: object) => JSON.stringify({ model: 'hotel', payload: o });
      const send = async (body: string, url = '/v1/infer') => {
        const res = await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'content-type': 'application/json' }, payload: body });
        expect(res.statusCode, res.body).toBe(200);
        return res.json();
      };
      const small = { ...base, note: 'vip' };
      const big = { ...base, note: 'x'.repeat(10_000), crm_id: 'c-1' };
      const category = names.find((n) => typeof base[n] === 'string')!;
      const huge = { ...base, [category]: 'y'.repeat(5_000) };
      const ids = [(await send(text(small))).prediction_id, (await send(text(big))).prediction_id, (await send(text(huge))).prediction_id];
      // Batch predict keeps each instance the same way.
      const batch = await send(JSON.stringify({ instances: [small, big] }), '/v1/models/hotel/predict');
      ids.push(...batch.predictions.map((p: { prediction_id: string }) => p.prediction_id));
      await s.audit.flush();
      const byId = new Map((await s.ctx.audit.query({ limit: 10 })).map((r) => [r.id, r]));
      const stored = ids.map((id) => byId.get(id)!);
      // As sent: the extra field too.
      expect(stored[0].features).toEqual(small);
      expect(stored[3].features).toEqual(small);
      // Only the contract's features, and what was left out.
      const features = Object.fromEntries(names.filter((n) => n in base).map((n) => [n, base[n]]));
      expect(stored[1].features).toEqual({ ...features, modelgate_trimmed: { bytes: Buffer.byteLength(JSON.stringify(big)), left_out: 2 } });
      expect(stored[4].features).toEqual(stored[1].features);
      expect(stored[1].features_sha256).toBeNull();
      // A 5,000-character category is itself above the limit: the canonical values' hash, as AUDIT_FEATURES=hashed keeps.
      expect(stored[2].features).toBeNull();
      const canonical = JSON.stringify(names.map((n) => (huge[n] === undefined || (typeof huge[n] === 'number' && Number.isNaN(huge[n])) ? null : huge[n])));
      expect(stored[2].features_sha256).toBe(createHash('sha256').update(canonical).digest('hex'));
      const metrics = (await s.app.inject({ method: 'GET', url: '/metrics', headers: s.auth })).body;
      expect(metrics).toContain('modelgate_audit_payloads_trimmed_total{model="hotel",kept="features"} 2');
      expect(metrics).toContain('modelgate_audit_payloads_trimmed_total{model="hotel",kept="hash"} 1');
    } finally {
      await s.stop();
    }
  });

  it('AUDIT_LOG=off records nothing', async () => {
    const s = await serverWith('sqlite', { AUDIT_LOG: 'off' });
    try {
      await s.app.inject({
        method: 'POST',
        url: '/v1/infer',
        headers: { ...s.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, 0) }),
      });
      await s.audit.flush();
      expect(await s.ctx.audit.count()).toBe(0);
    } finally {
      await s.stop();
    }
  });
});

describe('spill and replay when the database refuses records (SQLite)', () => {
  it('keeps serving, spills to disk, and replays every record once the table is back', async () => {
    const s = await serverWith('sqlite', {});
    try {
      const infer = async (i: number) => {
        const r = await s.app.inject({
          method: 'POST',
          url: '/v1/infer',
          headers: { ...s.auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, i) }),
        });
        expect(r.statusCode).toBe(200);
        return r.json().prediction_id as string;
      };
      const ids = [await infer(0)];
      await s.audit.flush();
      // A real failure: the table is gone, so every INSERT errors.
      await sql`alter table predictions rename to predictions_away`.execute(s.ctx.db.kysely);
      for (let i = 1; i < 30; i++) ids.push(await infer(i));
      await s.audit.flush();
      const { readdir } = await import('node:fs/promises');
      const spilled = await readdir(`${s.dataDir}/audit-spill`);
      expect(spilled.length).toBe(1);
      await sql`alter table predictions_away rename to predictions`.execute(s.ctx.db.kysely);
      ids.push(await infer(40));
      await s.audit.flush();
      await s.audit.replay();
      const stored = (await s.ctx.audit.query({ limit: 1000 })).map((p) => p.id);
      expect(stored.sort()).toEqual([...ids].sort());
      expect(await readdir(`${s.dataDir}/audit-spill`)).toEqual([]);
      const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('modelgate_audit_records_total{result="spilled"} 29');
      expect(metrics).toContain('modelgate_audit_records_total{result="replayed"} 29');
    } finally {
      await s.stop();
    }
  });
});

for (const dialect of DIALECTS) {
  describe(`the audit writer's batches (${dialect})`, () => {
    it('a steady stream is written a tick at a time, not one write per round trip; a flush called during another, and close(), cover what came meanwhile', async () => {
      const s = await serverWith(dialect, {});
      try {
        const { AuditWriter } = await import('../src/audit/index.js');
        const { createLogger } = await import('../src/lib/logger.js');
        const { predictionId } = await import('../src/lib/ids.js');
        // The real store, each write held up 15 ms, as on a loaded database.
        const writes: number[] = [];
        // When set, the next write signals that it began and waits to be let go.
        let gate: { began: () => void; held: Promise<void> } | undefined;
        const store = Object.create(s.ctx.audit) as typeof s.ctx.audit;
        store.appendFresh = async (batch) => {
          writes.push(batch.size);
          const g = gate;
          gate = undefined;
          if (g) {
            g.began();
            await g.held;
          } else await new Promise((r) => setTimeout(r, 15));
          return s.ctx.audit.appendFresh(batch);
        };
        const writer = new AuditWriter({ store, log: createLogger('silent'), spillDir: `${s.dataDir}/writer-spill`, flushMs: 60, batchRows: 5000, queueMax: 100_000 });
        const t0 = Date.parse('2026-11-24T10:00:00Z');
        const ids: string[] = [];
        const record = () => {
          const id = predictionId();
          ids.push(id);
          writer.record(auditRecord(id, new Date(t0 + ids.length).toISOString()));
        };
        writer.start();
        // 600 ms of records, a few every millisecond: far more often than a write finishes.
        const until = Date.now() + 600;
        while (Date.now() < until) {
          for (let i = 0; i < 3; i++) record();
          await new Promise((r) => setTimeout(r, 1));
        }
        // Chasing the stream writes after every ~15 ms round trip (31–33 writes measured); a tick each 60 ms + 15 ms is at most 9, and the last flush adds 1.
        const duringStream = writes.length;
        expect(duringStream).toBeGreaterThanOrEqual(2);
        expect(duringStream).toBeLessThanOrEqual(11);
        // A flush asked for while one is writing still covers records queued after that one began.
        record();
        const first = writer.flush();
        for (let i = 0; i < 7; i++) record();
        await writer.flush();
        await first;
        expect(writer.depth).toBe(0);
        // A record that comes while close() is writing the last batch is written too, not left in memory.
        record();
        let release!: () => void;
        const began = new Promise<void>((r) => (gate = { began: r, held: new Promise<void>((h) => (release = h)) }));
        const closing = writer.close();
        await began;
        record();
        release();
        await closing;
        expect(writer.depth).toBe(0);
        expect(writes.reduce((a, b) => a + b, 0)).toBe(ids.length);
        const stored = await s.ctx.audit.query({ limit: 100_000 });
        expect(stored.map((p) => p.id)).toEqual(ids);
      } finally {
        await s.stop();
      }
    });
  });

  describe(`features text (${dialect})`, () => {
    it("the features' text is the payload as the client wrote it, or the parsed payload's JSON when the body's shape is not plain or the body is long", async () => {
      const row = rowPayload(demo.holdout.data, 31) as Record<string, unknown>;
      // Python's json.dumps spacing, a number with a trailing zero, line breaks around the payload.
      const written = `{${Object.entries(row)
        .map(([k, v]) => `"${k}": ${typeof v === 'number' && Number.isInteger(v) ? `${v}.0` : JSON.stringify(v)}`)
        .join(', ')}}`;
      // 65,512 characters: its body is longer than the text a request keeps (64 Ki), the payload within AUDIT_PAYLOAD_MAX_BYTES (65,536).
      const long = `${written.slice(0, -1)}, "note": "${'x'.repeat(65_500 - written.length)}"}`;
      expect(long.length).toBe(65_512);
      const bodies = {
        plain: `{"model": "hotel", "event_id": "as-written", "payload": ${written}}\n`,
        // payload first: not cut out, so written as JSON.stringify of the parsed values
        reordered: `{"payload": ${written}, "model": "hotel", "event_id": "re-encoded"}`,
        // a body longer than the text the server keeps (64 K characters): re-encoded too
        long: `{"model": "hotel", "event_id": "long", "payload": ${long}}`,
      };
      const s = await serverWith(dialect, {});
      try {
        for (const payload of Object.values(bodies)) {
          const res = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: s.auth.authorization, 'content-type': 'application/json' }, payload });
          expect(res.statusCode).toBe(200);
        }
        await s.audit.flush();
        const stored = await s.ctx.db.kysely
          .selectFrom('predictions')
          .select(['event_id', sql<string>`cast(features as text)`.as('text')])
          .where('event_id', 'in', ['as-written', 're-encoded', 'long'])
          .execute();
        const text = Object.fromEntries(stored.map((r) => [r.event_id, r.text]));
        expect(text['as-written']).toBe(written);
        expect(text['re-encoded']).toBe(JSON.stringify(JSON.parse(written)));
        expect(text['re-encoded']).not.toBe(written);
        expect(JSON.parse(text['as-written'])).toEqual(row);
        expect(text.long).toBe(JSON.stringify(JSON.parse(long)));
        expect(text.long).not.toBe(long);
      } finally {
        await s.stop();
      }
    });
  });

  describe(`a queue past AUDIT_QUEUE_MAX (${dialect})`, () => {
    it('goes to disk at once, and every record still reaches the table once, in order', async () => {
      const s = await serverWith(dialect, { AUDIT_QUEUE_MAX: '100', AUDIT_BATCH_ROWS: '10' });
      try {
        const { predictionId } = await import('../src/lib/ids.js');
        const t0 = Date.parse('2026-11-24T09:00:00Z');
        const sent = Array.from({ length: 250 }, (_, i) => ({
          id: predictionId(),
          at: new Date(t0 + i).toISOString(),
          model: 'hotel',
          version: 1,
          arm: 'production',
          event_id: `e\t${i}`,
          features: JSON.stringify({ i, note: 'tab\there' }),
          features_sha256: null,
          score: i / 250,
          decision: i % 2 ? 'act' : 'none',
          latency_ms: 0.5,
          cached: i % 3 === 0,
          key_id: null,
          label: null,
        }));
        // Recorded in one synchronous run, faster than any write can finish: the queue reaches its bound twice.
        for (const r of sent) s.audit.record(r);
        expect(s.audit.depth).toBeLessThan(100);
        await s.audit.flush();
        await s.audit.replay();
        // 10 went to the table first; at 100 queued, then at 100 again, the queue went to disk; 40 were left.
        const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(metrics).toContain('modelgate_audit_records_total{result="spilled"} 200');
        expect(metrics).toContain('modelgate_audit_records_total{result="replayed"} 200');
        expect(metrics).toContain('modelgate_audit_records_total{result="written"} 50');
        const stored = await s.ctx.audit.query({ limit: 1000 });
        expect(stored.map((p) => p.id)).toEqual(sent.map((r) => r.id));
        expect(stored.map((p) => [p.event_id, p.features, p.score, p.cached])).toEqual(sent.map((r) => [r.event_id, JSON.parse(r.features), r.score, r.cached]));
        const { readdir } = await import('node:fs/promises');
        expect(await readdir(`${s.dataDir}/audit-spill`)).toEqual([]);
      } finally {
        await s.stop();
      }
    });
  });
}

describe.each(DIALECTS)('shadow results in the audit log on %s', (dialect) => {
  it('each scored shadow copy is a record with arm shadow and the original event_id, not counted among the decisions callers got', async () => {
    const s = await serverWith(dialect, {});
    try {
      const { generateHotelBookings, trainLogisticRegression } = await import('../src/training/index.js');
      const other = trainLogisticRegression(generateHotelBookings(2000, 5), { l2: 4 });
      await s.ctx.registry.register({ model: 'hotel', onnx: other.onnx, actor: 't' });
      await s.rollouts.setShadow('hotel', 2, 100, 't');
      await s.pool.refresh(true);
      const ids: string[] = [];
      const decided: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await s.app.inject({
          method: 'POST',
          url: '/v1/infer',
          headers: { ...s.auth, 'content-type': 'application/json' },
          payload: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, i), event_id: `sh-${i}` }),
        });
        ids.push(r.json().prediction_id);
        decided.push(r.json().decision);
      }
      await s.runtime.shadowIdle();
      await s.audit.flush();
      const d = (await s.app.inject({ method: 'GET', url: '/v1/models/hotel/decisions?window=24h', headers: s.auth })).json() as { total: number; decisions: { decision: string; count: number }[] };
      expect(d.total).toBe(5);
      expect(Object.fromEntries(d.decisions.map((x) => [x.decision, x.count]))).toEqual(decided.reduce<Record<string, number>>((a, x) => ({ ...a, [x]: (a[x] ?? 0) + 1 }), {}));
      const all = await s.ctx.audit.query({ model: 'hotel', limit: 100 });
      const shadow = all.filter((p) => p.arm === 'shadow');
      expect(shadow.map((p) => p.event_id).sort()).toEqual(['sh-0', 'sh-1', 'sh-2', 'sh-3', 'sh-4']);
      expect(shadow.every((p) => p.version === 2 && !ids.includes(p.id))).toBe(true);
      expect(all.filter((p) => p.arm === 'production')).toHaveLength(5);
      // The audit log by arm, in pages and as CSV.
      const get = (url: string) => s.app.inject({ method: 'GET', url, headers: s.auth });
      const byArm = async (arm: string) => (await get(`/v1/predictions?model=hotel&arm=${arm}&limit=3`)).json() as { predictions: { id: string; arm: string }[]; next_cursor: string | null };
      const firstPage = await byArm('shadow');
      expect(firstPage.predictions.map((p) => p.arm)).toEqual(['shadow', 'shadow', 'shadow']);
      const rest = (await get(`/v1/predictions?model=hotel&arm=shadow&limit=3&cursor=${firstPage.next_cursor}`)).json().predictions as { id: string }[];
      expect([...firstPage.predictions, ...rest].map((p) => p.id).sort()).toEqual(shadow.map((p) => p.id).sort());
      expect((await byArm('production')).predictions.every((p) => ids.includes(p.id))).toBe(true);
      expect((await byArm('canary')).predictions).toEqual([]);
      const csv = parseCsv((await get('/v1/predictions.csv?model=hotel&arm=shadow')).body, { columns: true }) as { id: string; arm: string }[];
      expect(csv.map((r) => r.id).sort()).toEqual(shadow.map((p) => p.id).sort());
      expect((await get('/v1/predictions?model=hotel&arm=replica')).statusCode).toBe(400);
    } finally {
      await s.stop();
    }
  });
});
