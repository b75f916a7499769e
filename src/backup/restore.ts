import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { allMigrations, bumpRevision, type Database, type Db } from '../db/index.js';
import { SUPPORTED_CONTRACT_VERSIONS } from '../inference/index.js';
import { removeIfInterrupted } from '../lib/interrupt-cleanup.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { assertInputFile } from '../lib/user-paths.js';
import type { ArtifactStore } from '../registry/index.js';
import { manifestSchema } from '../registry/index.js';
import { AUDIT_TABLES, PROGRESS_ROWS, REGISTRY_TABLES, SERIAL_TABLES, SUPPORTED_BACKUP_FORMATS, tableEntry, type BackupManifest, type BackupTable } from './format.js';

export interface RestoreOptions {
  force?: boolean;
  onProgress?: (message: string) => void;
}

export interface RestoreResult {
  file: string;
  format: string;
  created_at: string;
  tables: Record<string, number>;
  artifacts: number;
}

const CHUNK = 500;
const bad = (file: string, what: string) => new AppError('BAD_REQUEST', `${file}: ${what}; nothing was restored`);

/** Entries restore keeps on disk while it checks them: small, read more than once. Audit tables are read from the archive itself. */
const KEPT = /^(manifest\.json|artifacts\/[0-9a-f]{64}|tables\/[a-z_]+\.jsonl(\.gz)?)$/;
const isAuditEntry = (p: string) => AUDIT_TABLES.some((t) => SUPPORTED_BACKUP_FORMATS.some((f) => tableEntry(t, f) === p));

/** An entry's name as the manifest spells it: an archive packed again by hand may say ./manifest.json. */
const entryName = (p: string) => path.posix.normalize(p).replace(/^\.\//, '');

/** Hashes what passes through. */
function hashing(): Transform & { digest: () => { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return Object.assign(t, { digest: () => ({ sha256: hash.digest('hex'), bytes }) });
}

/**
 * Read one pass over the archive, handing each file entry (with a filter) to `use`; waits for
 * every `use` to finish. A `use` that fails has its entry drained, so the pass can end.
 */
async function eachEntry(file: string, filter: (p: string) => boolean, use: (entry: tar.ReadEntry) => Promise<void>): Promise<void> {
  const uses: Promise<void>[] = [];
  await tar.list({
    file,
    strict: true,
    // Each entry is read by `use`, at its pace; list would otherwise drain it at once.
    noResume: true,
    filter: (p) => filter(p),
    onReadEntry: (entry) => {
      if (entry.type !== 'File') {
        entry.resume();
        return;
      }
      const u = use(entry).catch((e: unknown) => {
        entry.resume();
        throw e;
      });
      u.catch(() => undefined); // awaited below, once the pass has ended
      uses.push(u);
    },
  });
  await Promise.all(uses);
}

/** An entry's rows, CHUNK at a time; gzipped entries are unpacked on the way. */
async function* rowChunks(input: Readable, gzipped: boolean): AsyncGenerator<Record<string, unknown>[]> {
  const source = gzipped ? input.pipe(createGunzip()) : input;
  let failure: unknown;
  const lines = readline.createInterface({ input: source, crlfDelay: Infinity });
  source.on('error', (e) => {
    failure = e;
    lines.close();
  });
  let chunk: Record<string, unknown>[] = [];
  for await (const line of lines) {
    if (!line) continue;
    chunk.push(JSON.parse(line) as Record<string, unknown>);
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  if (chunk.length) yield chunk;
}

/**
 * Restore an archive made by createBackup. Everything is checked before anything is written:
 * the archive reads to its end, its format and schema are ones this modelgate knows, every
 * entry's sha256 and size match the manifest, every artifact's content hashes to its name,
 * and every version manifest parses with a supported contract version. Then the artifacts go
 * into the store (content-addressed, so re-putting one is harmless) and the rows into the
 * database in one transaction: a refusal or a failure leaves the target as it was. The
 * registry's entries are kept in a temporary directory while this runs; the audit tables,
 * which can be most of the archive, are read from the archive twice (checked, then inserted
 * and checked again) instead of being copied out of it.
 */
export async function restoreBackup(db: Db, artifacts: ArtifactStore, archive: string, o: RestoreOptions = {}): Promise<RestoreResult> {
  const file = path.resolve(archive);
  const progress = o.onProgress ?? (() => undefined);
  assertInputFile(file, 'give the path of an archive made by modelgate backup');
  let work: string;
  try {
    work = await mkdtemp(path.join(os.tmpdir(), 'modelgate-restore-'));
  } catch (e) {
    throw new AppError('BAD_REQUEST', `cannot make a working directory in ${os.tmpdir()} (TMPDIR): ${errorMessage(e)}; set TMPDIR to a writable directory; nothing was restored`);
  }
  const workKept = removeIfInterrupted(work);
  try {
    progress(`reading ${file}…`);
    const read = new Map<string, { sha256: string; bytes: number }>();
    try {
      await eachEntry(
        file,
        () => true,
        async (entry) => {
          const name = entryName(entry.path);
          const h = hashing();
          if (KEPT.test(name) && !isAuditEntry(name)) {
            let out: WriteStream | undefined;
            try {
              await mkdir(path.dirname(path.join(work, name)), { recursive: true });
              out = createWriteStream(path.join(work, name));
              await pipeline(entry, h, out);
            } catch (e) {
              // A full or read-only TMPDIR is not a damaged archive.
              if (out?.errored || (e as NodeJS.ErrnoException).path?.startsWith(work)) {
                throw new AppError('BAD_REQUEST', `cannot unpack ${name} into ${work}: ${errorMessage(e)}; free space there or set TMPDIR to a directory with room; nothing was restored`);
              }
              throw e;
            }
          } else {
            await pipeline(entry, h, new Writable({ write: (_c, _e, done) => done() }));
          }
          read.set(name, h.digest());
        },
      );
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw bad(file, `not a complete modelgate backup (truncated or damaged: ${errorMessage(e)})`);
    }
    let manifest: BackupManifest;
    try {
      manifest = JSON.parse(await readFile(path.join(work, 'manifest.json'), 'utf8')) as BackupManifest;
    } catch (e) {
      throw bad(file, `no readable manifest.json (${errorMessage(e)}); is it a modelgate backup?`);
    }
    if (!SUPPORTED_BACKUP_FORMATS.includes(manifest.format)) {
      throw bad(
        file,
        `backup format ${JSON.stringify(manifest.format)} is not one this modelgate reads (${SUPPORTED_BACKUP_FORMATS.join(', ')}); it was made by modelgate ${manifest.modelgate_version ?? '?'}: restore it with that version or a newer one`,
      );
    }
    const known = Object.keys(allMigrations(db.dialect));
    if (manifest.schema && !known.includes(manifest.schema)) {
      throw bad(file, `it was made from a database at migration ${manifest.schema}, newer than this modelgate knows (${known[known.length - 1]}); upgrade modelgate to restore it`);
    }

    // Every entry, as the manifest lists it.
    progress(`verifying ${manifest.entries.length} entries…`);
    for (const e of manifest.entries) {
      if (e.path.includes('..') || path.isAbsolute(e.path) || !KEPT.test(e.path)) throw bad(file, `entry ${e.path} has an unsafe path`);
      const actual = read.get(e.path);
      if (!actual) throw bad(file, `entry ${e.path} is missing (the archive is truncated or was altered)`);
      if (actual.bytes !== e.bytes) throw bad(file, `entry ${e.path} is ${actual.bytes} bytes, the manifest says ${e.bytes} (truncated or altered)`);
      if (actual.sha256 !== e.sha256) throw bad(file, `entry ${e.path} does not match its checksum (sha256 ${actual.sha256}, expected ${e.sha256}): it was altered or damaged`);
      if (e.path.startsWith('artifacts/') && path.basename(e.path) !== actual.sha256) throw bad(file, `artifact ${e.path} does not hash to its name`);
    }
    const tables = manifest.tables as BackupTable[];
    const entryOf = (t: BackupTable) => tableEntry(t, manifest.format);
    for (const t of tables) {
      if (![...REGISTRY_TABLES, ...AUDIT_TABLES].includes(t as never)) throw bad(file, `unknown table ${t}`);
      if (!manifest.entries.some((e) => e.path === entryOf(t))) throw bad(file, `table ${t} is listed but has no entry`);
    }
    const rowsOf = (t: BackupTable) => rowChunks(createReadStream(path.join(work, entryOf(t))), entryOf(t).endsWith('.gz'));

    // The versions must be servable by this modelgate, and their artifacts present.
    const present = new Set(manifest.entries.filter((e) => e.path.startsWith('artifacts/')).map((e) => path.basename(e.path)));
    for await (const rows of rowsOf('model_versions')) {
      for (const v of rows) {
        const parsed = manifestSchema.safeParse(typeof v.manifest === 'string' ? JSON.parse(v.manifest) : v.manifest);
        const where = `${String(v.model)} v${String(v.version)}`;
        if (!parsed.success) throw bad(file, `the manifest of ${where} does not match the manifest schema (${parsed.error.issues[0]?.message})`);
        if (!SUPPORTED_CONTRACT_VERSIONS.includes(parsed.data.contract.contract_version)) {
          throw bad(file, `${where} has contract version ${parsed.data.contract.contract_version}, which this modelgate cannot serve; upgrade modelgate`);
        }
        for (const sha of [v.onnx_sha256, v.manifest_sha256]) if (!present.has(String(sha))) throw bad(file, `${where} names artifact ${String(sha)}, which the archive does not hold`);
      }
    }

    // The target: empty, unless told to replace it.
    const existing = await db.kysely
      .selectFrom('models')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(existing.n) > 0 && !o.force) {
      throw new AppError(
        'CONFLICT',
        `the target database already has ${existing.n} model(s); restore into an empty database, or pass --force to replace its registry${manifest.include_audit ? ', audit log' : ''} and settings with the backup's`,
        { models: Number(existing.n) },
      );
    }

    progress(`writing ${present.size} artifacts…`);
    let i = 0;
    for (const sha of present) {
      const stored = await artifacts.put(await readFile(path.join(work, 'artifacts', sha)));
      if (stored.sha256 !== sha) throw new AppError('INTERNAL', `artifact ${sha} was stored as ${stored.sha256}`);
      if (stored.repaired) progress(`  artifact ${sha}: the stored copy was corrupt; rewritten from the backup`);
      if (++i % 10 === 0 || i === present.size) progress(`  artifacts: ${i}/${present.size}`);
    }

    const counts: Record<string, number> = {};
    await db.kysely.transaction().execute(async (tx) => {
      await bumpRevision(tx);
      await bumpRevision(tx, 'access_revision');
      if (o.force) {
        // Children first; the audit tables only when the backup carries them.
        const clear = [...(manifest.include_audit ? [...AUDIT_TABLES].reverse() : []), ...[...REGISTRY_TABLES].reverse()];
        for (const t of clear) await tx.deleteFrom(t as keyof Database).execute();
      }
      for (const t of tables) {
        let n = 0;
        let reported = 0;
        const expected = manifest.entries.find((e) => e.path === entryOf(t))!;
        const total = expected.rows;
        // Event rows are numbered by the target (PostgreSQL generates those ids and refuses given
        // ones); they arrive in id order, so history keeps its order.
        const renumber = SERIAL_TABLES.includes(t);
        const insert = async (chunks: AsyncGenerator<Record<string, unknown>[]>) => {
          for await (const chunk of chunks) {
            const rows = renumber ? chunk.map(({ id: _id, ...rest }) => rest) : chunk;
            await tx
              .insertInto(t as keyof Database)
              .values(rows as never)
              .execute();
            n += rows.length;
            if (n - reported >= PROGRESS_ROWS) {
              reported = n;
              progress(`  ${t}: ${n.toLocaleString('en-US')}${total !== undefined ? ` of ${total.toLocaleString('en-US')}` : ''} rows…`);
            }
          }
        };
        if (!AUDIT_TABLES.includes(t as never)) await insert(rowsOf(t));
        else {
          // Read from the archive again, checked again as it is read: an archive changed since
          // the check above fails here, and the transaction writes nothing.
          let again: { sha256: string; bytes: number } | undefined;
          await eachEntry(
            file,
            (p) => entryName(p) === entryOf(t),
            async (entry) => {
              const h = hashing();
              entry.pipe(h);
              try {
                await insert(rowChunks(h, entryOf(t).endsWith('.gz')));
              } catch (e) {
                entry.unpipe(h); // so the entry drains and the pass can end
                throw e;
              }
              if (!h.readableEnded) await once(h, 'end');
              again = h.digest();
            },
          );
          if (again?.sha256 !== expected.sha256) throw bad(file, `entry ${entryOf(t)} changed while it was restored; nothing was written`);
        }
        counts[t] = n;
        progress(`  ${t}: ${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}`);
      }
    });
    return { file, format: manifest.format, created_at: manifest.created_at, tables: counts, artifacts: present.size };
  } finally {
    await rm(work, { recursive: true, force: true });
    workKept();
  }
}
