import type { Db } from '../db/index.js';
import type { Clock } from '../lib/clock.js';
import { binaryLabel, isMissingCell } from '../lib/missing.js';

/** One reported outcome, as a caller sends it. */
export interface FeedbackItem {
  prediction_id?: string;
  event_id?: string;
  /**
   * The model whose outcome this is: needed when several models scored the same event_id (a
   * fraud and a credit model scoring one transaction); with a prediction_id, checked against it.
   */
  model?: string;
  /** The real outcome: binary 0/1 (or false/true, or one of the model's class labels), multiclass the class, regression the value. */
  label: unknown;
  value?: unknown;
}

export type FeedbackResult =
  /** `replaced`: the prediction had an outcome already; `changed`: and this one differs from it (a correction, or the wrong file). */
  | { index: number; status: 'stored'; prediction_id: string; replaced?: true; changed?: true }
  | { index: number; status: 'error'; error: { code: 'VALIDATION_FAILED' | 'NOT_FOUND'; message: string } }
  /** A file's missing-value word (NA, ?) where the version has no such class: no outcome yet (submit's `tokensAsNoOutcome`). */
  | { index: number; status: 'no_outcome' };

/** What the version that made a prediction predicts: what its outcomes must look like. */
export interface VersionKind {
  task: 'binary' | 'multiclass' | 'regression';
  /** Multiclass: its classes. Binary: the classes its graph names, when it names them. */
  classes?: (string | number)[];
  /** Binary: the class whose probability is the score (its label means 1, another class's 0). */
  positive?: string | number;
  /**
   * Multiclass: the classes of every version of the model. A real class this version lacks but
   * another predicts (a rare class the data it was retrained on held no row of) is an outcome
   * too: the version got it wrong, which its accuracy must count.
   */
  modelClasses?: (string | number)[];
}

const LABELS = new Map<unknown, 0 | 1>([
  [0, 0],
  [1, 1],
  [false, 0],
  [true, 1],
]);

/** Why an id may not be found yet though it was scored: said once per import by the CLI, per item over HTTP. */
export const NOT_WRITTEN_YET = 'a prediction made in the last second on another replica may not be written yet; retry';

type Resolved = { id: string; model: string; version: number; event_id: string | null };
/** An item's prediction, or why it names none for sure (VALIDATION_FAILED). */
type Resolution = Resolved | { refused: string };
type Outcome = { label: number | null; actual_class: string | null; actual_value: number | null };

/** A binary model's class label as its 0/1 outcome: 1 for the positive class, 0 for another. */
function binaryClass(label: unknown, kind: VersionKind): 0 | 1 | undefined {
  if ((typeof label !== 'string' && typeof label !== 'number') || !kind.classes?.some((c) => String(c) === String(label))) return undefined;
  return String(label) === String(kind.positive) ? 1 : 0;
}

/** The stored outcome for a label of this kind, or why it is not one. */
function outcomeOf(label: unknown, kind: VersionKind, where: string, model: string): Outcome | string {
  // JSON.stringify spells Infinity (a 1e400 in the body) as null, which would misname it.
  const got = typeof label === 'number' && !Number.isFinite(label) ? `${label} (a number out of range)` : (JSON.stringify(label) ?? 'nothing');
  if (kind.task === 'binary') {
    // 0/1 and false/true first: they keep their meaning whatever the classes are called. Then the
    // model's own classes, then the words train reads as a binary target (yes/no, "1", "TRUE", …),
    // so outcomes come back in the spelling of the column the model was trained on.
    const y = LABELS.get(label) ?? binaryClass(label, kind) ?? (typeof label === 'string' ? (binaryLabel(label) ?? undefined) : undefined);
    if (y !== undefined) return { label: y, actual_class: null, actual_value: null };
    const named = kind.classes?.length ? `, or its classes ${kind.classes.map((c) => JSON.stringify(c)).join(', ')} (${JSON.stringify(kind.positive)} is 1)` : '';
    return `${where}.label: ${model} is a binary model; expected 0, 1, true, false, yes or no${named}, got ${got}`;
  }
  if (kind.task === 'regression') {
    // A numeric string too: a CSV import cannot know the column is a number.
    const y = typeof label === 'number' ? label : typeof label === 'string' && label.trim() !== '' ? Number(label) : NaN;
    return Number.isFinite(y) ? { label: null, actual_class: null, actual_value: y } : `${where}.label: ${model} is a regression model; expected the real value as a finite number, got ${got}`;
  }
  const classes = (kind.classes ?? []).map(String);
  const others = (kind.modelClasses ?? []).map(String).filter((c) => !classes.includes(c));
  if ((typeof label !== 'string' && typeof label !== 'number') || ![...classes, ...others].includes(String(label))) {
    const also = others.length ? `, or a class another version of the model predicts (${others.map((c) => JSON.stringify(c)).join(', ')})` : '';
    return `${where}.label: ${model} is a multiclass model; expected one of its classes ${classes.map((c) => JSON.stringify(c)).join(', ')}${also}, got ${got}`;
  }
  return { label: null, actual_class: String(label), actual_value: null };
}

/**
 * Real outcomes joined to audited predictions. Each item is checked on its own, so one bad
 * item never blocks the rest of a batch; an item names its prediction by prediction_id or by
 * the event_id it was scored with (the latest such prediction). Reporting again for the same
 * prediction replaces the earlier outcome. The outcome's kind is checked against the version
 * that made the prediction (`kindOf`, versions being immutable).
 */
export function createFeedbackService(deps: {
  db: Db;
  clock: Clock;
  kindOf: (model: string, version: number) => Promise<VersionKind>;
  /** Told which models have new outcomes once they are stored (a running canary reads its outcomes again). */
  onStored?: (models: string[]) => void;
}) {
  const k = deps.db.kysely;
  const kinds = new Map<string, Promise<VersionKind>>();
  const kindOf = (model: string, version: number) => {
    const key = `${model}@${version}`;
    let kind = kinds.get(key);
    if (!kind) {
      kind = deps.kindOf(model, version);
      kind.catch(() => kinds.delete(key));
      if (kinds.size > 1000) kinds.clear();
      kinds.set(key, kind);
    }
    return kind;
  };

  async function resolve(items: { index: number; item: FeedbackItem }[]): Promise<Map<number, Resolution>> {
    const out = new Map<number, Resolution>();
    const ids = [...new Set(items.map((x) => x.item.prediction_id).filter((v): v is string => !!v))];
    const events = [
      ...new Set(
        items
          .filter((x) => !x.item.prediction_id)
          .map((x) => x.item.event_id)
          .filter((v): v is string => !!v),
      ),
    ];
    const byId = new Map<string, Resolved>();
    // Per event id, each model's latest prediction of it: one event may be scored by several models.
    const byEvent = new Map<string, Map<string, Resolved>>();
    for (let i = 0; i < ids.length; i += 500) {
      for (const r of await k
        .selectFrom('predictions')
        .select(['id', 'model', 'version', 'event_id'])
        .where('id', 'in', ids.slice(i, i + 500))
        .execute())
        byId.set(r.id, { ...r, version: Number(r.version) });
    }
    for (let i = 0; i < events.length; i += 500) {
      const rows = await k
        .selectFrom('predictions')
        .select(['id', 'model', 'version', 'event_id', 'at'])
        .where('event_id', 'in', events.slice(i, i + 500))
        .where('arm', '!=', 'shadow')
        // Ids are time-ordered: two predictions of one batch (the same time) still have a latest.
        .orderBy('at')
        .orderBy('id')
        .execute();
      for (const r of rows) {
        let models = byEvent.get(r.event_id!);
        if (!models) byEvent.set(r.event_id!, (models = new Map()));
        models.set(r.model, { id: r.id, model: r.model, version: Number(r.version), event_id: r.event_id });
      }
    }
    for (const { index, item } of items) {
      if (item.prediction_id) {
        const hit = byId.get(item.prediction_id);
        if (hit && item.model !== undefined && hit.model !== item.model)
          out.set(index, { refused: `items[${index}].model: prediction ${item.prediction_id} was made by model ${hit.model}, not ${item.model}` });
        else if (hit) out.set(index, hit);
        continue;
      }
      const models = item.event_id ? byEvent.get(item.event_id) : undefined;
      if (!models) continue;
      if (item.model !== undefined) {
        const hit = models.get(item.model);
        if (hit) out.set(index, hit);
      } else if (models.size === 1) out.set(index, models.values().next().value!);
      else {
        const names = [...models.keys()].sort();
        out.set(index, {
          refused: `items[${index}]: event_id ${item.event_id} was scored by ${names.length} models (${names.join(', ')}); give model to say whose outcome this is`,
        });
      }
    }
    return out;
  }

  return {
    /**
     * flushAudit: write this process's queued audit records first, so a prediction made a moment ago is found.
     * tokensAsNoOutcome: a label that is a missing-value word (NA, ?, NULL …) and not an outcome the
     * version takes is no outcome yet, not an error — as a file's cell reads (a multiclass model
     * with a "?" class takes "?" as that class).
     */
    async submit(
      items: FeedbackItem[],
      keyId: string | null,
      flushAudit?: () => Promise<void>,
      opts: { tokensAsNoOutcome?: boolean } = {},
    ): Promise<{ stored: number; failed: number; replaced: number; changed: number; results: FeedbackResult[] }> {
      const results: FeedbackResult[] = new Array(items.length);
      const valid: { index: number; item: FeedbackItem; value: number | null }[] = [];
      items.forEach((item, index) => {
        const fail = (message: string) => (results[index] = { index, status: 'error', error: { code: 'VALIDATION_FAILED', message } });
        if (typeof item !== 'object' || item === null) return fail(`items[${index}]: expected an object`);
        if (!item.prediction_id && !item.event_id) return fail(`items[${index}]: give prediction_id or event_id`);
        if (item.model !== undefined && (typeof item.model !== 'string' || item.model === ''))
          return fail(`items[${index}].model: expected the name of the model whose outcome this is, got ${JSON.stringify(item.model)}`);
        if (item.label === undefined || item.label === null)
          return fail(
            `items[${index}].label: give the real outcome (binary 0 or 1, multiclass the class, regression the value)${
              typeof item.value === 'number'
                ? `; "value" is what acting on the prediction earned or cost, not the outcome: the real value of a regression model's prediction goes in "label" (for example "label": ${item.value})`
                : ''
            }`,
          );
        if (item.value !== undefined && item.value !== null && (typeof item.value !== 'number' || !Number.isFinite(item.value)))
          return fail(`items[${index}].value: expected a finite number (realised profit or cost), got ${JSON.stringify(item.value)}`);
        valid.push({ index, item, value: typeof item.value === 'number' ? item.value : null });
      });
      let found = await resolve(valid);
      if (found.size < valid.length && flushAudit) {
        await flushAudit();
        found = await resolve(valid);
      }
      const at = deps.clock.now().toISOString();
      const refreshed = new Set<string>();
      const rows: ({ prediction_id: string; model: string; event_id: string | null; value: number | null; at: string; key_id: string | null } & Outcome)[] = [];
      const noOutcomeWord = (label: unknown) => opts.tokensAsNoOutcome === true && typeof label === 'string' && isMissingCell(label);
      for (const v of valid) {
        const p = found.get(v.index);
        // A missing-value word is no outcome whatever it is matched with: only a prediction's version could make it a class.
        if (!p && noOutcomeWord(v.item.label)) {
          results[v.index] = { index: v.index, status: 'no_outcome' };
          continue;
        }
        if (p && 'refused' in p) {
          results[v.index] = { index: v.index, status: 'error', error: { code: 'VALIDATION_FAILED', message: p.refused } };
          continue;
        }
        if (!p) {
          const of = v.item.model !== undefined ? ` of model ${v.item.model}` : '';
          const ref = v.item.prediction_id ? `prediction ${v.item.prediction_id}` : `prediction${of} with event_id ${v.item.event_id}`;
          results[v.index] = {
            index: v.index,
            status: 'error',
            error: { code: 'NOT_FOUND', message: `no ${ref} in the audit log (${NOT_WRITTEN_YET})` },
          };
          continue;
        }
        let kind = await kindOf(p.model, p.version);
        let outcome = outcomeOf(v.item.label, kind, `items[${v.index}]`, `${p.model} version ${p.version}`);
        // A multiclass version's known classes grow when a later version adds one: look once more before refusing.
        const key = `${p.model}@${p.version}`;
        if (typeof outcome === 'string' && kind.task === 'multiclass' && !refreshed.has(key)) {
          refreshed.add(key);
          kinds.delete(key);
          kind = await kindOf(p.model, p.version);
          outcome = outcomeOf(v.item.label, kind, `items[${v.index}]`, `${p.model} version ${p.version}`);
        }
        if (typeof outcome === 'string' && noOutcomeWord(v.item.label)) {
          results[v.index] = { index: v.index, status: 'no_outcome' };
          continue;
        }
        if (typeof outcome === 'string') {
          results[v.index] = { index: v.index, status: 'error', error: { code: 'VALIDATION_FAILED', message: outcome } };
          continue;
        }
        rows.push({ prediction_id: p.id, model: p.model, event_id: p.event_id, ...outcome, value: v.value, at, key_id: keyId });
        results[v.index] = { index: v.index, status: 'stored', prediction_id: p.id };
      }
      // Several items for one prediction in one batch: the last one wins, as it would across batches.
      const last = new Map(rows.map((r) => [r.prediction_id, r]));
      const unique = [...last.values()];
      // Outcomes these replace (prediction id → whether the new one differs), so that a file imported over another is said (counts only: a race with another writer changes no row).
      const replacing = new Map<string, boolean>();
      const num = (v: number | null) => (v === null ? null : Number(v));
      for (let i = 0; i < unique.length; i += 500) {
        const batch = unique.slice(i, i + 500);
        const old = await k
          .selectFrom('feedback')
          .select(['prediction_id', 'label', 'actual_class', 'actual_value'])
          .where(
            'prediction_id',
            'in',
            batch.map((r) => r.prediction_id),
          )
          .execute();
        const mine = new Map(batch.map((r) => [r.prediction_id, r]));
        for (const o of old) {
          const r = mine.get(o.prediction_id)!;
          replacing.set(o.prediction_id, num(o.label) !== r.label || o.actual_class !== r.actual_class || num(o.actual_value) !== r.actual_value);
        }
      }
      const replaced = replacing.size;
      const changed = [...replacing.values()].filter(Boolean).length;
      for (const res of results) {
        if (res?.status !== 'stored') continue;
        const differs = replacing.get(res.prediction_id);
        if (differs === undefined) continue;
        res.replaced = true;
        if (differs) res.changed = true;
      }
      for (let i = 0; i < unique.length; i += 500) {
        await k
          .insertInto('feedback')
          .values(unique.slice(i, i + 500))
          .onConflict((oc) =>
            oc.column('prediction_id').doUpdateSet((eb) => ({
              label: eb.ref('excluded.label'),
              actual_class: eb.ref('excluded.actual_class'),
              actual_value: eb.ref('excluded.actual_value'),
              value: eb.ref('excluded.value'),
              at: eb.ref('excluded.at'),
              key_id: eb.ref('excluded.key_id'),
            })),
          )
          .execute();
      }
      if (unique.length) deps.onStored?.([...new Set(unique.map((r) => r.model))]);
      const stored = results.filter((r) => r.status === 'stored').length;
      return { stored, failed: results.filter((r) => r.status === 'error').length, replaced, changed, results };
    },

    async get(predictionId: string) {
      return k.selectFrom('feedback').selectAll().where('prediction_id', '=', predictionId).executeTakeFirst();
    },
  };
}

export type FeedbackService = ReturnType<typeof createFeedbackService>;
