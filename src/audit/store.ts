import { sql, type Selectable } from 'kysely';
import { fromJson, overTimeSlices, predictionRowsUpTo, toIso, toIsoOrNull, type Db } from '../db/index.js';
import { PipelinedCopy } from '../db/pg-copy.js';
import { COLUMNS, COPY_PREDICTIONS, copyLine, type CopyBatch } from './copy-batch.js';
import type { PredictionRecord } from './record.js';
import { SqliteAuditThread, type SqliteAuditThreadOptions } from './sqlite-writer.js';
import { Yielder } from '../lib/yielder.js';
import { SHADOW_ID_SUFFIX } from '../lib/ids.js';
import type { PredictionsTable } from '../db/schema.js';

export type { PredictionRecord };

export interface PredictionView extends Omit<PredictionRecord, 'features'> {
  features: Record<string, unknown> | null;
  /** The real outcome reported for it (binary 0/1, the class, or the value), or null while none is. */
  outcome: number | string | null;
  /** The realised profit or cost reported with the outcome, if any. */
  outcome_value: number | null;
  outcome_at: string | null;
}

type OutcomeColumns = { outcome_label: number | null; outcome_class: string | null; outcome_actual: number | null; outcome_value: number | null; outcome_at: Date | string | null };

const view = ({ outcome_label, outcome_class, outcome_actual, outcome_value, outcome_at, ...r }: Selectable<PredictionsTable> & OutcomeColumns): PredictionView => ({
  ...r,
  at: toIso(r.at),
  version: Number(r.version),
  score: Number(r.score),
  latency_ms: Number(r.latency_ms),
  cached: Boolean(r.cached),
  features: r.features === null ? null : fromJson<Record<string, unknown>>(r.features),
  outcome: outcome_label !== null ? Number(outcome_label) : outcome_class !== null ? outcome_class : outcome_actual !== null ? Number(outcome_actual) : null,
  outcome_value: outcome_value === null ? null : Number(outcome_value),
  outcome_at: toIsoOrNull(outcome_at),
});

/** The arms an audit record can be of: what served the caller, or a shadow's copy (never returned). */
export const AUDIT_ARMS = ['production', 'canary', 'pinned', 'shadow'] as const;

export interface PredictionQuery {
  model?: string;
  from?: string;
  to?: string;
  decision?: string;
  version?: number;
  /** Only records of this arm (production, canary, pinned, shadow). */
  arm?: string;
  /** The caller's event id (the one feedback joins on). */
  eventId?: string;
  /** Only predictions with a real outcome fed back. */
  labelled?: boolean;
  limit: number;
  /** Newest first (the console's audit log); else oldest first. */
  newestFirst?: boolean;
  /** Keyset position: (at, id) of the last row of the previous page, in the listing's order. */
  after?: { at: string; id: string };
}

/** Records a filtered listing reads per query on SQLite (a few milliseconds) before the event loop gets a turn. */
export const SCAN_ROWS = 5000;

/** `thread`: how the SQLite audit thread runs (its priority, and the log for what happens to it). */
export function createAuditStore(db: Db, opts: { thread?: SqliteAuditThreadOptions } = {}) {
  const k = db.kysely;
  const pool = db.pgPool;
  // SQLite audit writes run on a thread of their own (see sqlite-writer.ts); an in-memory database has no file another connection could open.
  const thread = db.location.kind === 'sqlite' && db.location.file !== ':memory:' ? new SqliteAuditThread(db.location.file, opts.thread) : undefined;
  /** Idempotent: a record replayed twice (spill file after a crash) is written once. */
  async function insertMany(rows: PredictionRecord[]): Promise<void> {
    if (!rows.length) return;
    if (thread) {
      await thread.write(rows.map(copyLine).join(''));
      return;
    }
    if (db.dialect === 'postgres') {
      // One array parameter per column instead of one parameter per value: a 500-row batch
      // is 14 parameters, cheap to build here and to parse there.
      const col = <T>(f: (r: PredictionRecord) => T) => rows.map(f);
      await sql`insert into predictions (${sql.raw(COLUMNS)})
        select * from unnest(${col((r) => r.id)}::text[], ${col((r) => r.at)}::timestamptz[], ${col((r) => r.model)}::text[], ${col((r) => r.version)}::int[],
          ${col((r) => r.arm)}::text[], ${col((r) => r.event_id)}::text[], ${col((r) => r.features)}::json[], ${col((r) => r.features_sha256)}::text[],
          ${col((r) => r.score)}::float8[], ${col((r) => r.decision)}::text[], ${col((r) => r.latency_ms)}::float8[], ${col((r) => (r.cached ? 1 : 0))}::int[], ${col((r) => r.key_id)}::text[], ${col((r) => r.label)}::text[])
        on conflict (id) do nothing`.execute(k);
      return;
    }
    await k
      .insertInto('predictions')
      .values(rows.map((r) => ({ ...r, cached: r.cached ? 1 : 0 })))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  /**
   * Where a page starts: the cursor's time when it is past the filter's bound, else the filter's
   * (oldest first: from, inclusive; newest first: to, exclusive). Given both, SQLite may start the
   * time index at the filter's and scan every page before the cursor again.
   */
  function startBound(q: PredictionQuery): { at: string; op: '>=' | '<=' | '<' } | undefined {
    const c = q.after;
    if (!q.newestFirst) return c && (!q.from || Date.parse(c.at) >= Date.parse(q.from)) ? { at: c.at, op: '>=' } : q.from ? { at: q.from, op: '>=' } : undefined;
    return c && (!q.to || Date.parse(c.at) < Date.parse(q.to)) ? { at: c.at, op: '<=' } : q.to ? { at: q.to, op: '<' } : undefined;
  }

  /** Where a listing ends: oldest first, before to; newest first, at from or after. */
  const endBound = (q: PredictionQuery): { at: string; op: '<' | '>=' } | undefined => (q.newestFirst ? (q.from ? { at: q.from, op: '>=' } : undefined) : q.to ? { at: q.to, op: '<' } : undefined);

  /**
   * A page of the audit log, oldest first (or newest first), each prediction with the outcome
   * reported for it (feedback's key is the prediction id); `span` narrows it to the times past
   * `beyond` and up to `through` in the listing's order.
   */
  function listing(q: PredictionQuery, span: { beyond?: string; through?: string } = {}) {
    const desc = !!q.newestFirst;
    let s = k
      .selectFrom('predictions as p')
      .leftJoin('feedback as f', 'f.prediction_id', 'p.id')
      .selectAll('p')
      .select(['f.label as outcome_label', 'f.actual_class as outcome_class', 'f.actual_value as outcome_actual', 'f.value as outcome_value', 'f.at as outcome_at']);
    if (q.model) s = s.where('p.model', '=', q.model);
    if (q.decision) s = s.where('p.decision', '=', q.decision);
    if (q.version !== undefined) s = s.where('p.version', '=', q.version);
    if (q.arm) s = s.where('p.arm', '=', q.arm);
    if (q.eventId) s = s.where('p.event_id', '=', q.eventId);
    if (q.labelled) s = s.where('f.prediction_id', 'is not', null);
    const end = endBound(q);
    if (end) s = s.where('p.at', end.op, end.at);
    const start = startBound(q);
    if (start) s = s.where('p.at', start.op, start.at);
    if (q.after) {
      const { at, id } = q.after;
      // Ties on the cursor's at are broken by id (the start bound keeps the rest on its side).
      s = s.where((eb) => eb.or([eb('p.at', desc ? '<' : '>', at), eb('p.id', desc ? '<' : '>', id)]));
    }
    if (span.beyond) s = s.where('p.at', desc ? '<' : '>', span.beyond);
    if (span.through) s = s.where('p.at', desc ? '>=' : '<=', span.through);
    const order = desc ? 'desc' : 'asc';
    return s.orderBy('p.at', order).orderBy('p.id', order).limit(q.limit);
  }

  type ListedRow = Selectable<PredictionsTable> & OutcomeColumns;
  /**
   * A shadow copy's outcome is the one fed back for the production prediction it copied, which
   * its id names: found for a page's copies in one lookup (the listing's join reads each row's own).
   */
  async function withCopiedOutcomes(rows: ListedRow[]): Promise<ListedRow[]> {
    const copies = rows.filter((r) => r.arm === 'shadow' && r.outcome_at === null && r.id.endsWith(SHADOW_ID_SUFFIX));
    if (!copies.length) return rows;
    const original = (r: ListedRow) => r.id.slice(0, -SHADOW_ID_SUFFIX.length);
    const found = await k.selectFrom('feedback').select(['prediction_id', 'label', 'actual_class', 'actual_value', 'value', 'at']).where('prediction_id', 'in', copies.map(original)).execute();
    const byId = new Map(found.map((f) => [f.prediction_id, f]));
    for (const r of copies) {
      const f = byId.get(original(r));
      if (f) Object.assign(r, { outcome_label: f.label, outcome_class: f.actual_class, outcome_actual: f.actual_value, outcome_value: f.value, outcome_at: f.at });
    }
    return rows;
  }

  /** The at of the SCAN_ROWS-th record of q's range past `beyond` in its order (by the time index alone), or undefined when fewer remain. */
  async function spanEnd(q: PredictionQuery, beyond: string | undefined): Promise<string | undefined> {
    const desc = !!q.newestFirst;
    let s = k.selectFrom('predictions').select('at');
    if (q.model) s = s.where('model', '=', q.model);
    const end = endBound(q);
    if (end) s = s.where('at', end.op, end.at);
    const start = startBound(q);
    if (start) s = s.where('at', start.op, start.at);
    if (beyond) s = s.where('at', desc ? '<' : '>', beyond);
    const r = await s
      .orderBy('at', desc ? 'desc' : 'asc')
      .limit(1)
      .offset(SCAN_ROWS - 1)
      .executeTakeFirst();
    // As stored (SQLite: text), so the next span compares with the same spelling.
    return r ? (typeof r.at === 'string' ? r.at : r.at.toISOString()) : undefined;
  }

  return {
    /**
     * Rows per page when streaming everything (an export): each page of a synchronous SQLite
     * read holds the event loop for its whole duration (1,000 rows took 8.5 ms), while a
     * PostgreSQL page waits on the network and is better large.
     */
    exportPageRows: db.dialect === 'sqlite' ? 200 : 1000,

    /**
     * Records never written before (fresh ids from this process). On PostgreSQL one COPY, which
     * costs the database about half of what the same rows cost as an INSERT (measured). COPY
     * cannot skip ids already present, so anything that may repeat (a spill replay) goes
     * through insertMany instead.
     */
    async appendFresh(batch: CopyBatch): Promise<void> {
      if (!batch.size) return;
      if (thread) {
        await thread.write(batch.data());
        return;
      }
      if (!pool) return insertMany(batch.records());
      const client = await pool.connect();
      let failed: Error | undefined;
      try {
        const copied = await client.query(new PipelinedCopy(COPY_PREDICTIONS, batch.data())).done;
        if (copied !== batch.size) throw new Error(`COPY wrote ${copied} of ${batch.size} audit records`);
      } catch (e) {
        failed = e as Error;
        throw e;
      } finally {
        // The protocol keeps a connection in step after a refused COPY, but one that failed
        // because its socket broke is not; drop any connection whose COPY failed.
        client.release(failed);
      }
    },

    insertMany,

    /** Start the SQLite writer thread and wait until it has opened the database, so the first batch does not wait for it. */
    ready: async (): Promise<void> => {
      await thread?.write('');
    },

    /** Stop the SQLite writer thread (after the audit writer's last flush). */
    close: async (): Promise<void> => thread?.close(),

    async query(q: PredictionQuery): Promise<PredictionView[]> {
      // Decision, version, arm and outcome have no index, so a filter that few rows match reads the whole
      // time range to fill a page: on SQLite, whose driver is synchronous, one query holding
      // the server for as long as that takes (0.7 s for 1.8 million records). There the range
      // is read in spans of SCAN_ROWS records, with a turn of the event loop between spans.
      if (db.dialect !== 'sqlite' || q.eventId || (q.decision === undefined && q.version === undefined && q.arm === undefined && !q.labelled))
        return (await withCopiedOutcomes(await listing(q).execute())).map(view);
      const out: PredictionView[] = [];
      const yielder = new Yielder();
      let beyond: string | undefined;
      for (;;) {
        const edge = await spanEnd(q, beyond);
        out.push(...(await withCopiedOutcomes(await listing({ ...q, limit: q.limit - out.length }, { beyond, through: edge }).execute())).map(view));
        if (out.length >= q.limit || edge === undefined) return out;
        beyond = edge;
        await yielder.pause();
      }
    },

    async decisions(model: string, from: string, to: string): Promise<{ decision: string; count: number }[]> {
      const rows = await overTimeSlices(db.dialect, from, to, {
        run: (a, b) =>
          k
            .selectFrom('predictions')
            .select(['decision', sql<number>`count(*)`.as('count')])
            .where('model', '=', model)
            // What callers were answered: a shadow's decisions were only recorded.
            .where('arm', '!=', 'shadow')
            .where('at', '>=', a)
            .where('at', '<', b)
            .groupBy('decision')
            .execute(),
        rowsUpTo: predictionRowsUpTo(k, model),
      });
      const counts = new Map<string, number>();
      for (const r of rows) counts.set(r.decision, (counts.get(r.decision) ?? 0) + Number(r.count));
      return [...counts].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([decision, count]) => ({ decision, count }));
    },

    async count(model?: string): Promise<number> {
      let s = k.selectFrom('predictions').select(sql<number>`count(*)`.as('n'));
      if (model) s = s.where('model', '=', model);
      return Number((await s.executeTakeFirstOrThrow()).n);
    },

    /**
     * Delete up to `batch` records older than the cutoff, with the outcomes reported for them (an
     * outcome carries the caller's event id, and nothing reads it once its prediction is gone);
     * returns how many records went.
     */
    async deleteOlderThan(cutoff: string, batch: number): Promise<number> {
      return k.transaction().execute(async (tx) => {
        const ids = (await tx.selectFrom('predictions').select('id').where('at', '<', cutoff).limit(batch).execute()).map((r) => r.id);
        if (!ids.length) return 0;
        await tx.deleteFrom('feedback').where('prediction_id', 'in', ids).execute();
        const r = await tx.deleteFrom('predictions').where('id', 'in', ids).executeTakeFirst();
        return Number(r.numDeletedRows);
      });
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
