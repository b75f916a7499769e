import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import { fromJson, modelRowsUpTo, overTimeSlices, toIso, toIsoOrNull, type Database, type Db } from '../db/index.js';
import type { RollbacksTable, RolloutsTable } from '../db/index.js';
import type { AnalysisRules } from './analysis.js';
import { addCounts, emptyCounts, type Arm, type ArmCounts } from './stats.js';
import { Yielder } from '../lib/yielder.js';
import type { OutcomeRow } from './outcomes.js';
import { SHADOW_ID_SUFFIX } from '../lib/ids.js';

type Q = Kysely<Database> | Transaction<Database>;

export interface Rollout {
  model: string;
  target: string;
  production_version: number | null;
  canary_version: number | null;
  canary_percent: number;
  steps: number[];
  step_index: number;
  step_interval_ms: number;
  min_requests: number;
  analysis: AnalysisRules;
  auto_promote: boolean;
  shadow_version: number | null;
  shadow_percent: number;
  shadow_started_at: string | null;
  started_at: string | null;
  step_started_at: string | null;
  started_by: string | null;
  updated_at: string;
  /** Bumped by every change to the canary (see compareAndSet). */
  canary_revision: number;
}

const out = (r: Selectable<RolloutsTable>): Rollout => ({
  ...r,
  canary_percent: Number(r.canary_percent),
  shadow_percent: Number(r.shadow_percent),
  step_interval_ms: Number(r.step_interval_ms),
  canary_revision: Number(r.canary_revision),
  steps: fromJson<number[]>(r.steps),
  analysis: fromJson<AnalysisRules>(r.analysis),
  auto_promote: Boolean(r.auto_promote),
  shadow_started_at: toIsoOrNull(r.shadow_started_at),
  started_at: toIsoOrNull(r.started_at),
  step_started_at: toIsoOrNull(r.step_started_at),
  updated_at: toIso(r.updated_at),
});

const row = (r: Rollout) => ({
  ...r,
  steps: JSON.stringify(r.steps),
  analysis: JSON.stringify(r.analysis),
  auto_promote: r.auto_promote ? 1 : 0,
});

/**
 * Outcomes come back for a few of the predictions, so the join starts from the feedback:
 * from the predictions it read every prediction of the window (on SQLite, whose driver is
 * synchronous, 0.6–0.8 s holding the server for 1.8 million of them, on each canary status
 * request and analysis pass) to find the labelled few. Feedback for a prediction is stored after
 * it was made, so only feedback stored since the window began (less FEEDBACK_CLOCK_SKEW_MS, for
 * replicas whose clocks disagree) can belong to it. The cross join keeps that order on SQLite,
 * whose planner has no statistics to choose it; PostgreSQL plans it as the inner join it is.
 */
function labelledPredictions(k: Kysely<Database>, model: string, arm: 'production' | 'canary', version: number, sinceIso: string, stored: { from: string; to?: string }) {
  let q = k
    .selectFrom('feedback as f')
    .crossJoin('predictions as p')
    .whereRef('p.id', '=', 'f.prediction_id')
    .where('f.model', '=', model)
    .where('f.at', '>=', stored.from)
    .where('p.model', '=', model)
    .where('p.arm', '=', arm)
    .where('p.version', '=', version)
    .where('p.at', '>=', sinceIso);
  if (stored.to) q = q.where('f.at', '<', stored.to);
  return q;
}

/** An arm's predictions of a version since a time, each with the outcome fed back for it. */
export function outcomesQuery(
  k: Kysely<Database>,
  model: string,
  arm: 'production' | 'canary',
  version: number,
  sinceIso: string,
  stored: { from: string; to?: string } = { from: feedbackSince(sinceIso) },
) {
  return labelledPredictions(k, model, arm, version, sinceIso, stored).select(['p.score', 'p.decision', 'p.label as predicted', 'f.label', 'f.actual_class', 'f.actual_value']);
}

/**
 * A shadow's labelled requests: each outcome fed back for a production prediction the shadow
 * scored a copy of, with both answers. A shadow record's id is the production prediction's with
 * SHADOW_ID_SUFFIX, so the copy is found by its primary key from each feedback row, as the
 * production prediction is (joined third, in the same order).
 */
export function shadowOutcomesQuery(
  k: Kysely<Database>,
  model: string,
  shadowVersion: number,
  productionVersion: number,
  sinceIso: string,
  stored: { from: string; to?: string } = { from: feedbackSince(sinceIso) },
) {
  return labelledPredictions(k, model, 'production', productionVersion, sinceIso, stored)
    .crossJoin('predictions as s')
    .select([
      'p.score as production_score',
      'p.decision as production_decision',
      'p.label as production_predicted',
      's.score',
      's.decision',
      's.label as predicted',
      'f.label',
      'f.actual_class',
      'f.actual_value',
    ])
    .where('s.id', '=', sql<string>`${sql.ref('f.prediction_id')} || ${SHADOW_ID_SUFFIX}`)
    .where('s.model', '=', model)
    .where('s.arm', '=', 'shadow')
    .where('s.version', '=', shadowVersion);
}

const feedbackSince = (sinceIso: string) => new Date(Date.parse(sinceIso) - FEEDBACK_CLOCK_SKEW_MS).toISOString();

/** Arm statistics rows read per query on SQLite (about 3 ms of reading and adding) before the event loop gets a turn. */
export const STATS_CHUNK_ROWS = 500;

/** How far apart two replicas' clocks may be for outcomes to be joined exactly. */
export const FEEDBACK_CLOCK_SKEW_MS = 5 * 60_000;

/** A rollout event as the API answers it. */
const eventOut = (r: Selectable<Database['rollout_events']>) => ({
  ...r,
  percent: r.percent === null ? null : Number(r.percent),
  details: fromJson<Record<string, unknown>>(r.details),
  at: toIso(r.at),
});

export function createRolloutStore(db: Db) {
  const k = db.kysely;

  /**
   * SQLite, whose driver is synchronous: many outcomes (100,000 labelled predictions took 0.7 s
   * in one query) are read in slices of feedback time, up to the latest stored, with a turn of
   * the event loop between them.
   */
  async function slicedOutcomes<T>(model: string, sinceIso: string, run: (stored: { from: string; to: string }) => Promise<T[]>): Promise<T[]> {
    const latest = await k
      .selectFrom('feedback')
      .select((eb) => eb.fn.max('at').as('at'))
      .where('model', '=', model)
      .executeTakeFirst();
    if (!latest?.at) return [];
    const end = new Date(Date.parse(toIso(latest.at)) + 1).toISOString();
    const from = feedbackSince(sinceIso);
    if (from >= end) return [];
    return overTimeSlices(db.dialect, from, end, {
      run: (a, b) => run({ from: a, to: b }),
      rowsUpTo: modelRowsUpTo(k, 'feedback', model),
    });
  }
  const num = (v: number | null) => (v === null ? null : Number(v));

  return {
    db,
    transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      return k.transaction().execute(fn);
    },

    async get(model: string, q: Q = k): Promise<Rollout | undefined> {
      const r = await q.selectFrom('rollouts').selectAll().where('model', '=', model).executeTakeFirst();
      return r ? out(r) : undefined;
    },

    async list(): Promise<Rollout[]> {
      return (await k.selectFrom('rollouts').selectAll().orderBy('model').execute()).map(out);
    },

    async put(q: Q, r: Rollout): Promise<void> {
      const values = row(r);
      await q
        .insertInto('rollouts')
        .values(values)
        .onConflict((oc) => oc.column('model').doUpdateSet({ ...values }))
        .execute();
    },

    /**
     * A canary transition (a step, a rollback, a promotion) decided from `expected`, applied only
     * if the canary is still the one judged: the analysis decides from a read made before its
     * transaction, and an operator's change meanwhile (`canary set`, new steps or rules) must not
     * be overridden by a decision about what it replaced. Every change to the canary bumps
     * canary_revision, so the row must still be at the revision read (and at the step and percent
     * read, which a replica of an earlier release, writing no revision, changes too). It writes the canary's
     * columns only, so a shadow started, stopped or restarted meanwhile is not put back as that
     * read had it. A transition happens once.
     */
    async compareAndSet(q: Q, expected: Pick<Rollout, 'model' | 'canary_version' | 'canary_revision' | 'step_index' | 'canary_percent'>, next: Rollout): Promise<boolean> {
      const { shadow_version: _v, shadow_percent: _p, shadow_started_at: _s, ...canary } = row(next);
      let query = q
        .updateTable('rollouts')
        .set({ ...canary, canary_revision: expected.canary_revision + 1 })
        .where('model', '=', expected.model)
        .where('canary_revision', '=', expected.canary_revision)
        .where('step_index', '=', expected.step_index)
        .where('canary_percent', '=', expected.canary_percent);
      query = expected.canary_version === null ? query.where('canary_version', 'is', null) : query.where('canary_version', '=', expected.canary_version);
      const res = await query.executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    async event(
      q: Q,
      e: { model: string; event: string; production_version: number | null; canary_version: number | null; percent: number | null; actor: string; details?: Record<string, unknown>; at: string },
    ) {
      await q
        .insertInto('rollout_events')
        .values({ ...e, details: JSON.stringify(e.details ?? {}) })
        .execute();
    },

    async events(model: string, limit = 100) {
      const rows = await k.selectFrom('rollout_events').selectAll().where('model', '=', model).orderBy('id', 'desc').limit(limit).execute();
      return rows.map(eventOut);
    },

    /** How the model's last canary ended (promoted, rolled back or stopped), or undefined when none has. */
    async lastCanaryEnd(model: string) {
      const r = await k.selectFrom('rollout_events').selectAll().where('model', '=', model).where('event', 'in', ['promote', 'rollback', 'stop']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      return r && eventOut(r);
    },

    async rollback(q: Q, r: Omit<Insertable<RollbacksTable>, 'id'>) {
      await q.insertInto('rollbacks').values(r).execute();
    },

    async rollbacks(model: string | undefined, limit: number) {
      let query = k.selectFrom('rollbacks').selectAll();
      if (model) query = query.where('model', '=', model);
      const rows = await query.orderBy('id', 'desc').limit(limit).execute();
      return rows.map((r) => ({ ...r, observed: r.observed === null ? null : Number(r.observed), threshold: r.threshold === null ? null : Number(r.threshold), at: toIso(r.at) }));
    },

    /** How many rollback rows match (all of them, not one page). */
    async countRollbacks(model: string | undefined): Promise<number> {
      let query = k.selectFrom('rollbacks').select((eb) => eb.fn.countAll<number>().as('n'));
      if (model) query = query.where('model', '=', model);
      return Number((await query.executeTakeFirstOrThrow()).n);
    },

    async insertStats(rows: { model: string; arm: Arm; version: number; counts: ArmCounts }[], replica: string, at: number): Promise<void> {
      if (rows.length === 0) return;
      await k
        .insertInto('arm_stats')
        .values(
          rows.map((r) => ({
            model: r.model,
            arm: r.arm,
            version: r.version,
            replica,
            bucket_start: at,
            requests: r.counts.requests,
            cache_hits: r.counts.cache_hits,
            errors: r.counts.errors,
            latency: JSON.stringify(r.counts.latency),
            decisions: JSON.stringify(r.counts.decisions),
            scores: JSON.stringify(r.counts.scores),
            score_sum: r.counts.score_sum,
            compared: r.counts.compared,
            agreed: r.counts.agreed,
            abs_diff: r.counts.abs_diff,
          })),
        )
        .execute();
    },

    /**
     * Cluster-wide counts for one arm and version since a time (epoch ms), summed over replicas.
     * A step of a day holds 17,280 rows per replica (one per STATS_FLUSH_INTERVAL_MS); on SQLite,
     * whose driver is synchronous, reading and adding them at once held the server 0.2 s per arm
     * for two replicas, on every analysis pass and canary status request. There they are read in
     * chunks of STATS_CHUNK_ROWS with a turn of the event loop between chunks.
     */
    async sumStats(model: string, arm: Arm, version: number, sinceMs: number): Promise<ArmCounts> {
      const total = emptyCounts();
      const add = (r: Selectable<Database['arm_stats']>) =>
        addCounts(total, {
          requests: Number(r.requests),
          cache_hits: Number(r.cache_hits),
          errors: Number(r.errors),
          latency: fromJson<number[]>(r.latency),
          decisions: fromJson<Record<string, number>>(r.decisions),
          scores: fromJson<number[]>(r.scores),
          score_sum: Number(r.score_sum),
          compared: Number(r.compared),
          agreed: Number(r.agreed),
          abs_diff: Number(r.abs_diff),
        });
      const rowsOf = () => k.selectFrom('arm_stats').selectAll().where('model', '=', model).where('arm', '=', arm).where('version', '=', version);
      if (db.dialect !== 'sqlite') {
        for (const r of await rowsOf().where('bucket_start', '>=', sinceMs).execute()) add(r);
        return total;
      }
      const yielder = new Yielder();
      for (let from = sinceMs; ; await yielder.pause()) {
        const rows = await rowsOf().where('bucket_start', '>=', from).orderBy('bucket_start').limit(STATS_CHUNK_ROWS).execute();
        if (rows.length < STATS_CHUNK_ROWS) {
          rows.forEach(add);
          return total;
        }
        // The last bucket may go on past the chunk: it is read whole by the next one.
        const last = Number(rows[rows.length - 1].bucket_start);
        if (Number(rows[0].bucket_start) === last) {
          // One bucket fills a chunk (many replicas): read that bucket alone.
          (await rowsOf().where('bucket_start', '=', last).execute()).forEach(add);
          from = last + 1;
        } else {
          for (const r of rows) if (Number(r.bucket_start) < last) add(r);
          from = last;
        }
      }
    },

    /** An arm's predictions of a version since a time, with the real outcome reported for each (feedback). */
    async outcomes(model: string, arm: 'production' | 'canary', version: number, sinceIso: string): Promise<OutcomeRow[]> {
      const rows =
        db.dialect === 'sqlite'
          ? await slicedOutcomes(model, sinceIso, (stored) => outcomesQuery(k, model, arm, version, sinceIso, stored).execute())
          : await outcomesQuery(k, model, arm, version, sinceIso).execute();
      return rows.map((r) => ({ score: Number(r.score), decision: r.decision, predicted: r.predicted, label: num(r.label), actual_class: r.actual_class, actual_value: num(r.actual_value) }));
    },

    /**
     * A shadow's labelled requests since it started against this production version: both
     * versions' answers to the very same requests, each with the outcome fed back for it.
     */
    async shadowOutcomes(model: string, shadowVersion: number, productionVersion: number, sinceIso: string): Promise<{ production: OutcomeRow[]; shadow: OutcomeRow[] }> {
      const rows =
        db.dialect === 'sqlite'
          ? await slicedOutcomes(model, sinceIso, (stored) => shadowOutcomesQuery(k, model, shadowVersion, productionVersion, sinceIso, stored).execute())
          : await shadowOutcomesQuery(k, model, shadowVersion, productionVersion, sinceIso).execute();
      const outcome = (r: (typeof rows)[number]) => ({ label: num(r.label), actual_class: r.actual_class, actual_value: num(r.actual_value) });
      return {
        production: rows.map((r) => ({ score: Number(r.production_score), decision: r.production_decision, predicted: r.production_predicted, ...outcome(r) })),
        shadow: rows.map((r) => ({ score: Number(r.score), decision: r.decision, predicted: r.predicted, ...outcome(r) })),
      };
    },

    async pruneStats(beforeMs: number): Promise<void> {
      await k.deleteFrom('arm_stats').where('bucket_start', '<', beforeMs).execute();
    },
  };
}

export type RolloutStore = ReturnType<typeof createRolloutStore>;
