import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { sql } from 'kysely';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, restoreBackup } from '../src/backup/index.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { createDirArtifactStore } from '../src/registry/index.js';
import { openContext, type Context } from '../src/server/context.js';
import { generateHotelBookings, rowPayload, trainLogisticRegression } from '../src/training/index.js';
import { dropDb, freshDb, tempDir, type DbLocation } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const v1 = demoModel();
const v2 = trainLogisticRegression(generateHotelBookings(3000, 77), { l2: 3 });
const rows = Array.from({ length: 20 }, (_, i) => rowPayload(v1.holdout.data, i));

/** An empty target: its own database and artifact directory, migrated. */
async function target(dialect: 'sqlite' | 'postgres'): Promise<{ ctx: Context; db: DbLocation; dir: string }> {
  const dir = tempDir();
  const db = freshDb(dialect);
  const config = loadConfig({ MODELGATE_DATA_DIR: dir, MODELGATE_ADMIN_TOKEN: TOKEN, ARTIFACT_STORE: path.join(dir, 'artifacts') });
  const ctx = await openContext(config, createLogger('silent'), { db, artifacts: createDirArtifactStore(path.join(dir, 'artifacts')) });
  return { ctx, db, dir };
}

const scoresOf = async (s: TestServer, auth = s.auth) =>
  Promise.all(rows.map(async (payload) => (await s.app.inject({ method: 'POST', url: '/v1/infer', headers: auth, payload: { model: 'hotel', payload } })).json().score as number));

describe.each([
  ['sqlite', 'sqlite'],
  ['postgres', 'postgres'],
  ['sqlite', 'postgres'],
  ['postgres', 'sqlite'],
] as const)('backup on %s, restore on %s', (from, to) => {
  let source: TestServer;
  let archive: string;
  let keyToken: string;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    source = await startTestServer({ dialect: from, jobs: false });
    const reg = source.ctx.registry;
    await reg.register({ model: 'hotel', onnx: v1.onnx, manifest: { reference: v1.reference, run_id: 'run-1' }, actor: 't' });
    await reg.register({ model: 'hotel', onnx: v2.onnx, actor: 't' });
    await reg.promote({ model: 'hotel', target: 'production', version: 2, actor: 't' });
    await reg.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await reg.promote({ model: 'hotel', target: 'blue', version: 2, actor: 't' });
    keyToken = (await source.ctx.access.create({ name: 'caller', scopes: ['infer', 'read'], actor: 't' })).token;
    await source.ctx.webhooks.add({ url: 'http://127.0.0.1:19999/hook', actor: 't' });
    await source.pool.refresh(true);
    await scoresOf(source);
    // One body as Python writes it: spaces after separators, whole numbers as 152.0.
    const written = `{${Object.entries(rows[0])
      .map(([k, v]) => `"${k}": ${typeof v === 'number' && Number.isInteger(v) ? `${v}.0` : JSON.stringify(v)}`)
      .join(', ')}}`;
    const res = await source.app.inject({
      method: 'POST',
      url: '/v1/infer',
      headers: { ...source.auth, 'content-type': 'application/json' },
      payload: `{"model": "hotel", "event_id": "as-written", "payload": ${written}}`,
    });
    expect(res.statusCode).toBe(200);
    await source.audit.flush();
    archive = path.join(tempDir(), 'out', 'modelgate.tar');
  });
  afterAll(async () => {
    for (const c of cleanup) await c();
    await source?.stop();
  });

  it('backs up registry, settings, audit log and artifacts with a checksum per entry', async () => {
    const steps: string[] = [];
    const r = await createBackup(source.ctx.db, source.ctx.artifacts, { out: archive, includeAudit: true, version: 'test', onProgress: (m) => steps.push(m) });
    expect(r.tables).toMatchObject({ models: 1, model_versions: 2, aliases: 2, alias_events: 3, api_keys: 1, webhook_subscriptions: 1, predictions: 21 });
    expect(r.artifacts).toBe(4);
    expect(steps.join('\n')).toMatch(/model_versions: 2 rows/);
    expect(steps).toContain('  models: 1 row');
    const listed: string[] = [];
    await tar.list({ file: archive, onReadEntry: (e) => listed.push(e.path) });
    expect(listed[0]).toBe('manifest.json');
    expect(listed.filter((p) => p.startsWith('artifacts/'))).toHaveLength(4);
    // Each table gzipped inside the plain tar, so damage stays inside one checksummed entry.
    expect(listed.filter((p) => p.startsWith('tables/'))).toContain('tables/predictions.jsonl.gz');
    expect(listed.filter((p) => p.startsWith('tables/')).every((p) => p.endsWith('.jsonl.gz'))).toBe(true);
    const unpacked = mkdtempSync(path.join(os.tmpdir(), 'mg-gz-'));
    await tar.extract({ file: archive, cwd: unpacked });
    const gz = readFileSync(path.join(unpacked, 'tables', 'predictions.jsonl.gz'));
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    const lines = gunzipSync(gz).toString('utf8').trim().split('\n');
    expect(lines).toHaveLength(21);
    expect(JSON.parse(lines[0])).toMatchObject({ model: 'hotel' });
    expect(JSON.parse(readFileSync(path.join(unpacked, 'manifest.json'), 'utf8')).format).toBe('modelgate.backup/v2');
    // No temporary file is left beside it.
    expect(readdirSync(path.dirname(archive))).toEqual(['modelgate.tar']);
  });

  it('restores into an empty database: verify passes, the same aliases, history, keys and scores', async () => {
    const t = await target(to);
    cleanup.push(async () => {
      await t.ctx.close();
      await dropDb(t.db);
    });
    const r = await restoreBackup(t.ctx.db, t.ctx.artifacts, archive);
    expect(r.tables).toMatchObject({ models: 1, model_versions: 2, predictions: 21 });
    expect((await t.ctx.registry.verify()).every((v) => v.ok)).toBe(true);
    const [a, b] = [await source.ctx.registry.getModel('hotel'), await t.ctx.registry.getModel('hotel')];
    expect(b.aliases).toEqual(a.aliases);
    expect(b.alias_history.map((e) => [e.alias, e.version, e.action])).toEqual(a.alias_history.map((e) => [e.alias, e.version, e.action]));
    expect(b.versions.map((v) => v.run_id)).toEqual(['run-1', null]);
    // New events after a restore get new ids (PostgreSQL sequences moved past the restored rows).
    await t.ctx.registry.promote({ model: 'hotel', target: 'production', version: 2, actor: 't' });
    await t.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    const served = await startTestServer({ db: t.db, dataDir: t.dir, jobs: false, env: { ARTIFACT_STORE: path.join(t.dir, 'artifacts') } });
    cleanup.unshift(() => served.close());
    expect(await scoresOf(served, { authorization: `Bearer ${keyToken}` })).toEqual(await scoresOf(source));
  });

  it('reads the audit tables from the archive itself, never copying them out, and restores a format-1 archive (plain tables, packed again by hand)', async () => {
    const t = await target(to);
    cleanup.push(async () => {
      await t.ctx.close();
      await dropDb(t.db);
    });
    // A format-1 archive: the same entries with the tables as plain JSON lines.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-v1-'));
    const unpacked = mkdtempSync(path.join(dir, 'x-'));
    await tar.extract({ file: archive, cwd: unpacked });
    const manifest = JSON.parse(readFileSync(path.join(unpacked, 'manifest.json'), 'utf8'));
    for (const e of manifest.entries as { path: string; sha256: string; bytes: number }[]) {
      if (!e.path.endsWith('.jsonl.gz')) continue;
      const plain = gunzipSync(readFileSync(path.join(unpacked, e.path)));
      rmSync(path.join(unpacked, e.path));
      e.path = e.path.replace(/\.gz$/, '');
      writeFileSync(path.join(unpacked, e.path), plain);
      e.sha256 = createHash('sha256').update(plain).digest('hex');
      e.bytes = plain.length;
    }
    writeFileSync(path.join(unpacked, 'manifest.json'), JSON.stringify({ ...manifest, format: 'modelgate.backup/v1' }));
    const v1 = path.join(dir, 'v1.tar');
    // Packed again the way one would by hand (tar -C dir .): every name starts with ./
    await tar.create({ file: v1, cwd: unpacked }, ['.']);
    const names: string[] = [];
    await tar.list({ file: v1, onReadEntry: (e) => names.push(e.path) });
    expect(names).toContain('./manifest.json');

    // What the restore's working directory holds while the predictions go in.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mg-tmp-'));
    const seen: string[] = [];
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const r = await restoreBackup(t.ctx.db, t.ctx.artifacts, v1, {
        onProgress: (m) => {
          if (m.includes('predictions')) seen.push(...readdirSync(tmp, { recursive: true }).map(String));
        },
      });
      expect(r).toMatchObject({ format: 'modelgate.backup/v1', tables: { models: 1, model_versions: 2, predictions: 21 } });
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    expect(seen.some((f) => f.endsWith('model_versions.jsonl'))).toBe(true);
    expect(seen.filter((f) => /predictions|feedback/.test(f))).toEqual([]);
    // Every record as it was, the features as the client wrote them (152.0 stays 152.0).
    const records = (c: Context) =>
      c.db.kysely
        .selectFrom('predictions')
        .select(['id', 'score', 'event_id', sql<string>`cast(features as text)`.as('text')])
        .orderBy('id')
        .execute();
    const [restored, original] = [await records(t.ctx), await records(source.ctx)];
    expect(restored.map((p) => [p.id, Number(p.score), p.event_id, p.text])).toEqual(original.map((p) => [p.id, Number(p.score), p.event_id, p.text]));
    expect(original.find((p) => p.event_id === 'as-written')!.text).toMatch(/^\{"[a-z_]+": .*\.0[,}]/);
    // And the temporary directory is gone afterwards.
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('refuses a truncated archive, a flipped byte in an artifact, a newer format, and a non-empty target without --force, writing nothing', async () => {
    const t = await target(to);
    cleanup.push(async () => {
      await t.ctx.close();
      await dropDb(t.db);
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-bad-'));
    const bytes = readFileSync(archive);
    const truncated = path.join(dir, 'truncated.tar');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, truncated)).rejects.toThrow(/truncated|missing/);
    // A path that is not there, or a directory: said in words (it was Node's "ENOENT: no such file or directory, stat …").
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, path.join(dir, 'none.tar'))).rejects.toThrow(
      `cannot read ${path.join(dir, 'none.tar')}: no such file; give the path of an archive made by modelgate backup`,
    );
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, dir)).rejects.toThrow(`cannot read ${dir}: it is a directory`);

    // Unpack, damage one byte of one artifact, pack again with the manifest as it was.
    const unpacked = mkdtempSync(path.join(dir, 'x-'));
    await tar.extract({ file: archive, cwd: unpacked });
    const artifact = readdirSync(path.join(unpacked, 'artifacts'))[0];
    const art = readFileSync(path.join(unpacked, 'artifacts', artifact));
    art[Math.floor(art.length / 2)] ^= 0x01;
    writeFileSync(path.join(unpacked, 'artifacts', artifact), art);
    const flipped = path.join(dir, 'flipped.tar');
    await tar.create({ file: flipped, cwd: unpacked }, readdirSync(unpacked));
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, flipped)).rejects.toThrow(new RegExp(`entry artifacts/${artifact} does not match its checksum`));

    const manifest = JSON.parse(readFileSync(path.join(unpacked, 'manifest.json'), 'utf8'));
    writeFileSync(path.join(unpacked, 'manifest.json'), JSON.stringify({ ...manifest, format: 'modelgate.backup/v9', modelgate_version: '9.0.0' }));
    const newer = path.join(dir, 'newer.tar');
    await tar.create({ file: newer, cwd: unpacked }, readdirSync(unpacked));
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, newer)).rejects.toThrow(/format "modelgate.backup\/v9" is not one this modelgate reads.*made by modelgate 9\.0\.0/);

    // Nothing was written by any refusal.
    expect(await t.ctx.registry.listModels()).toEqual([]);
    const stored = existsSync(path.join(t.dir, 'artifacts')) ? readdirSync(path.join(t.dir, 'artifacts'), { recursive: true }) : [];
    expect(stored.filter((f) => /[0-9a-f]{64}$/.test(String(f)))).toEqual([]);

    await restoreBackup(t.ctx.db, t.ctx.artifacts, archive);
    await expect(restoreBackup(t.ctx.db, t.ctx.artifacts, archive)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/already has 1 model.*--force/) });
    const forced = await restoreBackup(t.ctx.db, t.ctx.artifacts, archive, { force: true });
    expect(forced.tables.model_versions).toBe(2);
    expect((await t.ctx.registry.listModels()).map((m) => m.name)).toEqual(['hotel']);
  });

  it('a restore whose TMPDIR cannot hold a working directory says so and what to do', async () => {
    const before = process.env.TMPDIR;
    process.env.TMPDIR = path.join(archive, 'not-a-directory');
    try {
      await expect(restoreBackup(source.ctx.db, source.ctx.artifacts, archive)).rejects.toThrow(
        /cannot make a working directory in .*not-a-directory \(TMPDIR\): .*set TMPDIR to a writable directory/,
      );
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });

  it('a backup to a path that cannot be written is refused before any work, naming it', async () => {
    await expect(createBackup(source.ctx.db, source.ctx.artifacts, { out: '/etc/hostname/nope/backup.tar', version: 'test' })).rejects.toThrow(
      /cannot write the backup to \/etc\/hostname\/nope\/backup\.tar: .*choose a --out/,
    );
  });
});
