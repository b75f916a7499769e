import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { bumpRevision, fromJson, isUniqueViolation, readRevision, toIso, type Database, type Db, type ModelVersionsTable } from '../db/index.js';
import type { Manifest } from './manifest.js';

/** A version row as the registry hands it out: manifest parsed, time as an ISO string. */
export type VersionRow = Omit<Selectable<ModelVersionsTable>, 'manifest' | 'created_at'> & { manifest: Manifest; created_at: string };

export interface AliasEvent {
  id: number;
  alias: string;
  version: number | null;
  previous_version: number | null;
  action: string;
  actor: string;
  at: string;
}

type Q = Kysely<Database> | Transaction<Database>;

const versionOut = (r: Omit<VersionRow, 'manifest' | 'created_at'> & { manifest: unknown; created_at: Date | string }): VersionRow => ({
  ...r,
  size_bytes: Number(r.size_bytes),
  manifest: fromJson<Manifest>(r.manifest),
  created_at: toIso(r.created_at),
});

/** Kysely queries for models, versions and aliases; identical on SQLite and PostgreSQL. */
export function createRegistryStore(db: Db) {
  const k = db.kysely;
  return {
    db,
    isUniqueViolation,
    transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      return k.transaction().execute(fn);
    },
    bumpRevision,

    revision: () => readRevision(k),

    async ensureModel(q: Q, name: string, description: string | null, at: string): Promise<void> {
      await q
        .insertInto('models')
        .values({ name, description, created_at: at })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    },

    async nextVersion(q: Q, model: string): Promise<number> {
      const r = await q
        .selectFrom('model_versions')
        .select((eb) => eb.fn.max('version').as('max'))
        .where('model', '=', model)
        .executeTakeFirst();
      return Number(r?.max ?? 0) + 1;
    },

    async insertVersion(q: Q, row: Omit<VersionRow, 'status'>): Promise<void> {
      await q
        .insertInto('model_versions')
        .values({ ...row, status: 'active', manifest: JSON.stringify(row.manifest) })
        .execute();
    },

    async listModels() {
      const models = await k.selectFrom('models').selectAll().orderBy('name').execute();
      const counts = await k
        .selectFrom('model_versions')
        .select(['model', (eb) => eb.fn.max('version').as('latest'), (eb) => eb.fn.countAll().as('count')])
        .groupBy('model')
        .execute();
      const aliases = await k.selectFrom('aliases').select(['model', 'alias', 'version']).execute();
      // The task of each model's latest version (a model's task rarely changes; its versions say
      // when it did), read in SQL: a manifest holds the whole reference profile, not worth parsing for one word.
      const task = db.dialect === 'postgres' ? sql<string | null>`mv.manifest->'contract'->>'task'` : sql<string | null>`json_extract(mv.manifest, '$.contract.task')`;
      const latest = await k
        .selectFrom('model_versions as mv')
        .innerJoin(
          (eb) =>
            eb
              .selectFrom('model_versions')
              .select(['model', (e) => e.fn.max('version').as('latest')])
              .groupBy('model')
              .as('l'),
          (j) => j.onRef('l.model', '=', 'mv.model').onRef('l.latest', '=', 'mv.version'),
        )
        .select(['mv.model', task.as('task')])
        .execute();
      const tasks = new Map(latest.map((r) => [r.model, r.task ?? 'binary']));
      // The engine of each model's production version, as last recorded.
      const engines = await k
        .selectFrom('aliases as a')
        .innerJoin('engine_checks as e', (j) => j.onRef('e.model', '=', 'a.model').onRef('e.version', '=', 'a.version'))
        .where('a.alias', '=', 'production')
        .select(['a.model', 'e.engine', 'e.reason'])
        .execute();
      const engineOf = new Map(engines.map((e) => [e.model, e]));
      return models.map((m) => {
        const c = counts.find((x) => x.model === m.name);
        const e = engineOf.get(m.name);
        return {
          production_engine: e ? { engine: e.engine, ...(e.reason ? { reason: e.reason } : {}) } : null,
          name: m.name,
          description: m.description,
          task: tasks.get(m.name) ?? null,
          created_at: toIso(m.created_at),
          latest_version: c ? Number(c.latest) : null,
          version_count: c ? Number(c.count) : 0,
          aliases: Object.fromEntries(aliases.filter((a) => a.model === m.name).map((a) => [a.alias, a.version])),
        };
      });
    },

    async getModel(name: string) {
      const m = await k.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
      return m ? { name: m.name, description: m.description, created_at: toIso(m.created_at) } : undefined;
    },

    async listVersions(model: string): Promise<VersionRow[]> {
      const rows = await k.selectFrom('model_versions').selectAll().where('model', '=', model).orderBy('version').execute();
      return rows.map(versionOut);
    },

    async allVersions(): Promise<VersionRow[]> {
      const rows = await k.selectFrom('model_versions').selectAll().orderBy('model').orderBy('version').execute();
      return rows.map(versionOut);
    },

    async latestVersion(model: string, q: Q = k): Promise<VersionRow | undefined> {
      const r = await q.selectFrom('model_versions').selectAll().where('model', '=', model).orderBy('version', 'desc').limit(1).executeTakeFirst();
      return r ? versionOut(r) : undefined;
    },

    async getVersion(model: string, version: number, q: Q = k): Promise<VersionRow | undefined> {
      const r = await q.selectFrom('model_versions').selectAll().where('model', '=', model).where('version', '=', version).executeTakeFirst();
      return r ? versionOut(r) : undefined;
    },

    async setStatus(q: Q, model: string, version: number, status: 'active' | 'archived'): Promise<void> {
      await q.updateTable('model_versions').set({ status }).where('model', '=', model).where('version', '=', version).execute();
    },

    async aliasesOf(model: string, q: Q = k): Promise<Record<string, number>> {
      const rows = await q.selectFrom('aliases').select(['alias', 'version']).where('model', '=', model).execute();
      return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
    },

    async allAliases(): Promise<{ model: string; aliases: Record<string, number> }[]> {
      const models = await k.selectFrom('models').select('name').execute();
      const rows = await k.selectFrom('aliases').select(['model', 'alias', 'version']).execute();
      return models.map((m) => ({
        model: m.name,
        aliases: Object.fromEntries(rows.filter((r) => r.model === m.name).map((r) => [r.alias, r.version])),
      }));
    },

    async setAlias(q: Q, a: { model: string; alias: string; version: number; previous: number | null; action: AliasEvent['action']; actor: string; at: string }) {
      await q
        .insertInto('aliases')
        .values({ model: a.model, alias: a.alias, version: a.version, updated_at: a.at, updated_by: a.actor })
        .onConflict((oc) => oc.columns(['model', 'alias']).doUpdateSet({ version: a.version, updated_at: a.at, updated_by: a.actor }))
        .execute();
      await q
        .insertInto('alias_events')
        .values({ model: a.model, alias: a.alias, version: a.version, previous_version: a.previous, action: a.action as 'set', actor: a.actor, at: a.at })
        .execute();
    },

    async aliasHistory(model: string, alias?: string, q: Q = k): Promise<AliasEvent[]> {
      let query = q.selectFrom('alias_events').selectAll().where('model', '=', model);
      if (alias) query = query.where('alias', '=', alias);
      const rows = await query.orderBy('id', 'desc').execute();
      return rows.map((r) => ({ id: r.id, alias: r.alias, version: r.version, previous_version: r.previous_version, action: r.action, actor: r.actor, at: toIso(r.at) }));
    },

    /** Record which engine serves a version (the latest check wins). */
    async recordEngine(c: EngineCheck, q: Q = k): Promise<void> {
      const row = { model: c.model, version: c.version, engine: c.engine, reason: c.reason ?? null, memory_bytes: Math.round(c.memory_bytes), checked_at: c.checked_at };
      await q
        .insertInto('engine_checks')
        .values(row)
        .onConflict((oc) => oc.columns(['model', 'version']).doUpdateSet({ engine: row.engine, reason: row.reason, memory_bytes: row.memory_bytes, checked_at: row.checked_at }))
        .execute();
    },

    async engineChecks(model: string): Promise<Map<number, EngineCheck>> {
      const rows = await k.selectFrom('engine_checks').selectAll().where('model', '=', model).execute();
      return new Map(
        rows.map((r) => [
          r.version,
          { model: r.model, version: r.version, engine: r.engine, ...(r.reason ? { reason: r.reason } : {}), memory_bytes: Number(r.memory_bytes), checked_at: toIso(r.checked_at) },
        ]),
      );
    },
  };
}

/** The engine a version serves on, as last checked (registration or a server's load). */
export interface EngineCheck {
  model: string;
  version: number;
  engine: 'compiled' | 'onnxruntime';
  reason?: string;
  memory_bytes: number;
  checked_at: string;
}

export type RegistryStore = ReturnType<typeof createRegistryStore>;
