import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.js';
import { fromJson, overTimeSlices, predictionRowsUpTo, toIso } from '../db/index.js';
import { sql } from 'kysely';
import { Yielder } from '../lib/yielder.js';
import type { EmitEvent } from '../webhooks/index.js';

export interface LoggedPrediction {
  version: number;
  /** The logged payload; null when features were not logged (AUDIT_FEATURES=hashed or none). */
  features: unknown;
  score: number;
  /** Multiclass: the predicted class. */
  label: string | null;
  decision: string;
}

export interface LabelledPrediction {
  score: number;
  decision: string;
  /** Multiclass: the predicted class. */
  predicted: string | null;
  /** Binary: the real outcome (0/1); null for other tasks. */
  label: number | null;
  /** Multiclass: the real class. */
  actual_class: string | null;
  /** Regression: the real value. */
  actual_value: number | null;
  value: number | null;
}

export interface StoredReportSummary {
  id: string;
  model: string;
  version: number | null;
  created_at: string;
  window: { from: string; to: string };
  predictions: number;
  alerts_firing: string[];
  metrics?: Record<string, number | null>;
  /** With `withReport`: the stored report itself. */
  report?: unknown;
}

/** Rows per keyset page when SQLite reads a monitoring window: about 2 ms of query a page. */
const SQLITE_PAGE = 1000;

/** Predictions, feedback and reports as the monitor reads and writes them (both dialects). */
export function createMonitoringStore(db: Db) {
  const k = db.kysely;
  return {
    /**
     * Served predictions of a model in [from, to), read once, in pages and with bounded memory,
     * without holding the request thread: on PostgreSQL from one query through a server-side
     * cursor; on SQLite, whose driver is synchronous and has one connection, in keyset pages of
     * SQLITE_PAGE rows (each a short query that leaves the connection free between pages). The
     * loop parsing and paging the rows gives the event loop a turn every 2 ms on both. Shadow
     * results are not served, so not included. (Picking the features out in SQL was tried:
     * PostgreSQL's jsonb -> per feature costs more than parsing whole payloads here.)
     */
    async *predictions(model: string, from: string, to: string, pageSize = 5000): AsyncGenerator<LoggedPrediction[]> {
      const served = k.selectFrom('predictions').where('model', '=', model).where('arm', '!=', 'shadow').where('at', '<', to);
      const yielder = new Yielder();
      let page: LoggedPrediction[] = [];
      const take = (r: { version: number; features: unknown; score: number; label: string | null; decision: string }) => {
        page.push({ version: r.version, features: r.features === null ? null : fromJson(r.features), score: r.score, label: r.label, decision: r.decision });
      };
      if (db.dialect === 'sqlite') {
        let after: { at: string; rid: number } | undefined;
        for (;;) {
          const rows = await served
            // The (model, at) index holds each row's rowid, so ordering by (at, rowid) needs no sort.
            .select(['at', sql<number>`rowid`.as('rid'), 'version', 'features', 'score', 'label', 'decision'])
            // One lower bound on at, the cursor's once there is one: given both, SQLite may start the index range
            // at the window's start and scan every earlier page again. Ties on at are split by rowid.
            .$if(after === undefined, (q) => q.where('at', '>=', from))
            .$if(after !== undefined, (q) => q.where('at', '>=', after!.at).where((eb) => eb.or([eb('at', '>', after!.at), eb(sql`rowid`, '>', after!.rid)])))
            .orderBy('at')
            .orderBy(sql`rowid`)
            .limit(SQLITE_PAGE)
            .execute();
          for (const r of rows) {
            take(r);
            if (yielder.due()) await yielder.pause();
            if (page.length >= pageSize) {
              yield page;
              page = [];
            }
          }
          if (rows.length < SQLITE_PAGE) break;
          const last = rows[rows.length - 1];
          after = { at: String(last.at), rid: last.rid };
          await yielder.pause();
        }
      } else {
        // Only what the monitor bins: ids and timestamps would cost a parse per row for nothing.
        const rows = served
          .where('at', '>=', from)
          .select(['version', 'features', 'score', 'label', 'decision'])
          .stream(pageSize * 4);
        for await (const r of rows) {
          take(r);
          if (yielder.due()) await yielder.pause();
          if (page.length >= pageSize) {
            yield page;
            page = [];
          }
        }
      }
      if (page.length) yield page;
    },

    /** Predictions of one version in [from, to) that have feedback, with the outcome. */
    async labelled(model: string, version: number, from: string, to: string): Promise<LabelledPrediction[]> {
      // The join walks the window's predictions: on SQLite, in slices (80 ms in one go for 200,000).
      const rows = await overTimeSlices(db.dialect, from, to, {
        run: (a, b) =>
          k
            .selectFrom('predictions as p')
            .innerJoin('feedback as f', 'f.prediction_id', 'p.id')
            .select(['p.score', 'p.decision', 'p.label as predicted', 'f.label', 'f.actual_class', 'f.actual_value', 'f.value'])
            .where('p.model', '=', model)
            .where('p.version', '=', version)
            .where('p.arm', '!=', 'shadow')
            .where('p.at', '>=', a)
            .where('p.at', '<', b)
            .execute(),
        rowsUpTo: predictionRowsUpTo(k, model),
      });
      const num = (v: number | null) => (v === null ? null : Number(v));
      return rows.map((r) => ({
        score: Number(r.score),
        decision: r.decision,
        predicted: r.predicted,
        label: num(r.label),
        actual_class: r.actual_class,
        actual_value: num(r.actual_value),
        value: num(r.value),
      }));
    },

    /** Served predictions and how many had one of the given decisions, in [from, to). */
    async decisionCounts(model: string, from: string, to: string, acting: string[]): Promise<{ total: number; acted: number }> {
      const count = (a: string, b: string) =>
        k
          .selectFrom('predictions')
          .select(['decision', (eb) => eb.fn.countAll<number | string>().as('n')])
          .where('model', '=', model)
          .where('arm', '!=', 'shadow')
          .where('at', '>=', a)
          .where('at', '<', b)
          .groupBy('decision')
          .execute();
      let total = 0;
      let acted = 0;
      for (const r of await overTimeSlices(db.dialect, from, to, { run: count, rowsUpTo: predictionRowsUpTo(k, model) })) {
        total += Number(r.n);
        if (acting.includes(r.decision)) acted += Number(r.n);
      }
      return { total, acted };
    },

    /**
     * Store a report and, in the same transaction, its webhook events: monitor.report, and
     * monitor.alert.fired / .resolved for each alert whose state differs from the previous report's.
     */
    async saveReport(
      r: {
        model: string;
        version: number | null;
        createdAt: string;
        from: string;
        to: string;
        predictions: number;
        alertsFiring: string[];
        alerts: { name: string; value: number | null; threshold: number; detail: string }[];
        report: unknown;
      },
      emit?: EmitEvent,
    ): Promise<string> {
      const id = randomUUID();
      await k.transaction().execute(async (tx) => {
        const prev = await tx.selectFrom('monitoring_reports').select('alerts_firing').where('model', '=', r.model).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
        await tx
          .insertInto('monitoring_reports')
          .values({
            id,
            model: r.model,
            version: r.version,
            created_at: r.createdAt,
            window_from: r.from,
            window_to: r.to,
            predictions: r.predictions,
            alerts_firing: r.alertsFiring.join(','),
            report: JSON.stringify(r.report),
          })
          .execute();
        if (!emit) return;
        const before = new Set(prev?.alerts_firing ? prev.alerts_firing.split(',') : []);
        const now = new Set(r.alertsFiring);
        for (const a of r.alerts) {
          const type = now.has(a.name) && !before.has(a.name) ? 'monitor.alert.fired' : !now.has(a.name) && before.has(a.name) ? 'monitor.alert.resolved' : undefined;
          if (type) await emit(tx, type, { model: r.model, version: r.version, alert: a.name, value: a.value, threshold: a.threshold, detail: a.detail, report_id: id }, r.createdAt);
        }
        await emit(
          tx,
          'monitor.report',
          { model: r.model, version: r.version, report_id: id, window: { from: r.from, to: r.to }, predictions: r.predictions, alerts_firing: r.alertsFiring },
          r.createdAt,
        );
      });
      return id;
    },

    /**
     * One batch of reports made before the cutoff, except each model's latest (what its gauges,
     * the console and the next report's alert changes read). Returns how many were deleted.
     */
    async deleteReportsOlderThan(cutoff: string, batch: number): Promise<number> {
      const old = k
        .selectFrom('monitoring_reports as r')
        .select('r.id')
        .where('r.created_at', '<', cutoff)
        .where(({ exists, selectFrom }) =>
          exists(
            selectFrom('monitoring_reports as n')
              .select('n.id')
              .whereRef('n.model', '=', 'r.model')
              .where((eb) => eb.or([eb('n.created_at', '>', eb.ref('r.created_at')), eb.and([eb('n.created_at', '=', eb.ref('r.created_at')), eb('n.id', '>', eb.ref('r.id'))])])),
          ),
        )
        .limit(batch);
      const r = await k.deleteFrom('monitoring_reports').where('id', 'in', old).executeTakeFirst();
      return Number(r.numDeletedRows);
    },

    async latestReport(model: string): Promise<unknown | undefined> {
      const row = await k.selectFrom('monitoring_reports').select('report').where('model', '=', model).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
      return row ? fromJson(row.report) : undefined;
    },

    /** Newest first, keyset-paged on (created_at, id). */
    /** Report summaries, newest first; with `withReport` each also carries its stored report. */
    async history(model: string, limit: number, before?: { at: string; id: string }, withReport = false): Promise<StoredReportSummary[]> {
      let q = k.selectFrom('monitoring_reports').select(['id', 'model', 'version', 'created_at', 'window_from', 'window_to', 'predictions', 'alerts_firing']).where('model', '=', model);
      if (before) q = q.where((eb) => eb.or([eb('created_at', '<', before.at), eb.and([eb('created_at', '=', before.at), eb('id', '<', before.id)])]));
      const rows = await (withReport ? q.select('report') : q).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
      return rows.map((r) => ({
        ...('report' in r ? { report: fromJson(r.report as string) } : {}),
        id: r.id,
        model: r.model,
        version: r.version,
        created_at: toIso(r.created_at),
        window: { from: toIso(r.window_from), to: toIso(r.window_to) },
        predictions: Number(r.predictions),
        alerts_firing: r.alerts_firing ? r.alerts_firing.split(',') : [],
      }));
    },

    async reportById(id: string): Promise<unknown | undefined> {
      const row = await k.selectFrom('monitoring_reports').select('report').where('id', '=', id).executeTakeFirst();
      return row ? fromJson(row.report) : undefined;
    },
  };
}

export type MonitoringStore = ReturnType<typeof createMonitoringStore>;
