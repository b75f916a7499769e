import { createWriteStream } from 'node:fs';
import { PRIVATE_FILE_MODE } from '../lib/private-files.js';
import { access, constants, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { sql } from 'kysely';
import * as tar from 'tar';
import { lastMigration, type Database, type Db } from '../db/index.js';
import { writeText } from '../lib/data-location.js';
import { isNoSpace, noSpaceError } from '../lib/disk-space.js';
import { removeIfInterrupted } from '../lib/interrupt-cleanup.js';
import { AppError, errorMessage } from '../lib/errors.js';
import type { ArtifactStore } from '../registry/index.js';
import { sha256File } from '../lib/files.js';
import { AUDIT_TABLES, BACKUP_FORMAT, neutralRow, PROGRESS_ROWS, REGISTRY_TABLES, SERIAL_TABLES, tableEntry, type BackupEntry, type BackupManifest, type BackupTable } from './format.js';

export interface BackupOptions {
  out: string;
  includeAudit?: boolean;
  version: string;
  onProgress?: (message: string) => void;
  now?: () => Date;
}

export interface BackupResult {
  file: string;
  bytes: number;
  tables: Record<string, number>;
  artifacts: number;
}

const PAGE = 5000;
/** A name no table has, for the features read as text. */
const FEATURES_TEXT = 'modelgate_backup_features_text';
/** The unique key each large table is paged on. */
const AUDIT_KEY: Partial<Record<BackupTable, string>> = { predictions: 'id', feedback: 'prediction_id' };

/**
 * Write one archive of the registry and its settings (and with includeAudit the prediction
 * log and feedback) as of one instant, with every artifact the versions name. The tables are
 * read in one transaction (repeatable read on PostgreSQL; SQLite's WAL gives the same
 * snapshot), then the archive is written to a temporary name and renamed: an interrupted
 * backup leaves no half-written file under the name asked for.
 */
export async function createBackup(db: Db, artifacts: ArtifactStore, o: BackupOptions): Promise<BackupResult> {
  const out = path.resolve(o.out);
  const dir = path.dirname(out);
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new AppError('BAD_REQUEST', `cannot write the backup to ${out}: ${errorMessage(e)}; choose a --out in a writable directory`);
  }
  const work = await mkdtemp(path.join(dir, '.modelgate-backup-'));
  const workKept = removeIfInterrupted(work);
  const progress = o.onProgress ?? (() => undefined);
  try {
    await mkdir(path.join(work, 'tables'));
    await mkdir(path.join(work, 'artifacts'));
    const tables: BackupTable[] = [...REGISTRY_TABLES, ...(o.includeAudit ? AUDIT_TABLES : [])];
    const counts: Record<string, number> = {};
    const shas = new Set<string>();
    let schema = '';
    // One snapshot of every table; read only, so on SQLite it takes no write lock and the
    // servers' audit writers go on while a large table is copied.
    const tx = db.kysely.transaction().setAccessMode('read only');
    await (db.dialect === 'postgres' ? tx.setIsolationLevel('repeatable read') : tx).execute(async (t) => {
      schema = await lastMigration(t, db.dialect);
      for (const table of tables) {
        const written = createWriteStream(path.join(work, tableEntry(table, BACKUP_FORMAT)));
        // Level 1: the audit log's lines shrink about tenfold at it, and a faster backup holds its snapshot less long.
        const file = createGzip({ level: 1 });
        // A full disk fails the write stream: pipeline destroys the gzip stream with its error,
        // so the next write throws it (writeText) and the wait below rejects with it.
        const done = pipeline(file, written);
        done.catch(() => undefined);
        let n = 0;
        let reported = 0;
        const write = async (rows: Record<string, unknown>[]) => {
          let text = '';
          for (const r of rows) {
            if (table === 'model_versions') {
              shas.add(String(r.onnx_sha256));
              shas.add(String(r.manifest_sha256));
            }
            text += `${JSON.stringify(neutralRow(r))}\n`;
          }
          // One write a page: each write to the gzip stream is a trip to the thread pool.
          if (text) await writeText(file, text);
          n += rows.length;
        };
        const key = AUDIT_KEY[table];
        // Event tables in id order: a restore inserts them in this order and the database numbers them anew.
        if (!key)
          await write(
            (await (
              SERIAL_TABLES.includes(table)
                ? t
                    .selectFrom(table as keyof Database)
                    .selectAll()
                    .orderBy(sql.ref('id'))
                : t.selectFrom(table as keyof Database).selectAll()
            ).execute()) as Record<string, unknown>[],
          );
        else {
          // The audit tables can be large: paged on their unique key, so memory holds one page.
          // The features are kept as the client wrote them (a json column on PostgreSQL, which
          // the driver would parse, so 152.0 came back 152): read as text, restored as text.
          const asText = table === 'predictions' && db.dialect === 'postgres';
          for (let after: unknown = undefined; ;) {
            let q = t
              .selectFrom(table as keyof Database)
              .selectAll()
              .orderBy(sql.ref(key))
              .limit(PAGE);
            if (after !== undefined) q = q.where(sql.ref(key), '>', after as string);
            const rows = (await (asText ? q.select(sql<string>`features::text`.as(FEATURES_TEXT)) : q).execute()) as Record<string, unknown>[];
            if (asText)
              for (const r of rows) {
                r.features = r[FEATURES_TEXT];
                delete r[FEATURES_TEXT];
              }
            await write(rows);
            if (rows.length < PAGE) break;
            after = rows[rows.length - 1][key];
            if (n - reported >= PROGRESS_ROWS) {
              reported = n;
              progress(`  ${table}: ${n.toLocaleString('en-US')} rows…`);
            }
          }
        }
        file.end();
        await done;
        counts[table] = n;
        progress(`  ${table}: ${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}`);
      }
    });
    let i = 0;
    for (const sha of shas) {
      await writeFile(path.join(work, 'artifacts', sha), await artifacts.get(sha));
      if (++i % 10 === 0 || i === shas.size) progress(`  artifacts: ${i}/${shas.size}`);
    }
    const entries: BackupEntry[] = [];
    for (const table of tables) {
      const entry = tableEntry(table, BACKUP_FORMAT);
      entries.push({ path: entry, ...(await sha256File(path.join(work, entry))), rows: counts[table] });
    }
    for (const sha of shas) entries.push({ path: `artifacts/${sha}`, ...(await sha256File(path.join(work, 'artifacts', sha))) });
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      created_at: (o.now?.() ?? new Date()).toISOString(),
      modelgate_version: o.version,
      schema,
      source: { dialect: db.dialect },
      include_audit: o.includeAudit ?? false,
      tables,
      entries,
    };
    await writeFile(path.join(work, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const tmp = path.join(dir, `.${path.basename(out)}.${process.pid}.tmp`);
    const tmpKept = removeIfInterrupted(tmp);
    progress(`writing ${out}…`);
    try {
      // It holds webhook secrets and key hashes (and with the audit log, features): private, as the database is.
      await tar.create({ file: tmp, cwd: work, portable: true, mode: PRIVATE_FILE_MODE }, ['manifest.json', ...entries.map((e) => e.path)]);
      await rename(tmp, out);
      tmpKept();
    } catch (e) {
      await rm(tmp, { force: true });
      tmpKept();
      if (isNoSpace(e)) throw e;
      throw new AppError('BAD_REQUEST', `cannot write the backup to ${out}: ${errorMessage(e)}`);
    }
    const { bytes } = await sha256File(out);
    return { file: out, bytes, tables: counts, artifacts: shas.size };
  } catch (e) {
    // The tables and artifacts are staged beside --out before the archive is made: both need room there.
    throw isNoSpace(e) ? noSpaceError(e, dir, `nothing was written to ${out} (a backup needs about twice its size free there while it is made)`) : e;
  } finally {
    await rm(work, { recursive: true, force: true });
    workKept();
  }
}
