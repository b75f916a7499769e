import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel, FIXTURES } from './helpers/fixtures.js';
import { TOKEN } from './helpers/server.js';
import { runOnTmpfs, type TmpfsProcess } from './helpers/tmpfs-process.js';

/**
 * A full disk under the SQLite database and the artifacts, for real: the data directory is an
 * 8 MiB tmpfs in the script's own mount namespace, filled by a file when the test says so
 * (control files in a directory outside it). What an operator must see: every change refused
 * with the disk named and what to do, nothing half-made, serving going on, and everything
 * working again once space is freed — including a server that was started on the full disk.
 */
describe('a full disk under the SQLite database and artifacts', () => {
  const onnxFile = path.join(tempDir(), 'hotel.onnx');
  writeFileSync(onnxFile, demoModel().onnx);
  const otherOnnx = path.join(FIXTURES, 'telco_gbdt.onnx');
  let run: TmpfsProcess | undefined;
  afterEach(() => run?.kill());

  const setup = () => [
    `modelgate register --model hotel --onnx ${JSON.stringify(onnxFile)} --json >/dev/null`,
    `modelgate register --model hotel --onnx ${JSON.stringify(onnxFile)} --json >/dev/null`,
    'modelgate promote --model hotel --version 1 --json >/dev/null',
  ];
  /** Shell lines: wait for the control file, then fill the disk with a file as large as it takes. */
  const fill = (ctl: string, dataDir: string) => [`while [ ! -e ${ctl}/fill ]; do sleep 0.05; done`, `dd if=/dev/zero of=${dataDir}/filler bs=64k 2>/dev/null || true`];
  const free = (ctl: string, dataDir: string) => [`while [ ! -e ${ctl}/free ]; do sleep 0.05; done`, `rm ${dataDir}/filler`, `touch ${ctl}/freed`];
  const env = (dataDir: string) => ({ MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: TOKEN, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', AUDIT_FLUSH_MS: '50' });
  const waitFile = async (file: string) => {
    for (const until = Date.now() + 60_000; !existsSync(file); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > until) throw new Error(`no ${file}:\n${run?.output()}`);
  };
  const post = (url: string, route: string, body: unknown) =>
    fetch(`${url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const DISK_FULL =
    /^the disk holding the SQLite database \S+modelgate\.db is full \(SQLITE_FULL: database or disk is full; 0 B free\): free space on it or move MODELGATE_DATA_DIR to a larger volume, then retry; the change was not made$/;

  it('a running server refuses changes naming the disk, goes on serving, and takes them once space is freed', async () => {
    const dataDir = tempDir();
    const ctl = tempDir();
    run = runOnTmpfs({
      dir: dataDir,
      size: '8m',
      script: [
        ...setup(),
        'modelgate serve --json &',
        ...fill(ctl, dataDir),
        // The CLI on the same full disk: a new artifact, then a change to the database.
        `modelgate register --model hotel --onnx ${JSON.stringify(otherOnnx)} --json > ${ctl}/register.out 2>/dev/null || echo $? > ${ctl}/register.rc`,
        `modelgate keys create --name ops --scopes infer --json > ${ctl}/keys.out 2>/dev/null || echo $? > ${ctl}/keys.rc`,
        `touch ${ctl}/filled`,
        ...free(ctl, dataDir),
        'wait',
      ],
      env: env(dataDir),
    });
    const url = await run.serverUrl(120_000);
    writeFileSync(path.join(ctl, 'fill'), '');
    await waitFile(path.join(ctl, 'filled'));

    // Changes over HTTP: 503 with the disk named, not an internal error.
    for (const [route, body] of [
      ['/v1/models/hotel/promote', { version: 2 }],
      ['/v1/keys', { name: 'ops', scopes: ['infer'] }],
      ['/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 10 }],
    ] as const) {
      const res = await post(url, route, body);
      const b = (await res.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
      expect({ route, status: res.status, code: b.error.code }).toEqual({ route, status: 503, code: 'UNAVAILABLE' });
      expect(b.error.message).toMatch(DISK_FULL);
      expect(b.error.details).toEqual({ code: 'SQLITE_FULL', directory: dataDir, free_bytes: 0 });
    }
    // The disk as /metrics shows it: the 8 MiB tmpfs, nothing free.
    const gauge = async (name: string) => Number(new RegExp(`^${name}\\{path="${dataDir}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    expect([await gauge('modelgate_data_dir_size_bytes'), await gauge('modelgate_data_dir_free_bytes')]).toEqual([8 * 1024 * 1024, 0]);
    // /health, an operator's first look, says it too.
    const health = async () => (await (await fetch(`${url}/health`)).json()) as { status: string; data_dir?: unknown; audit?: unknown };
    expect(await health()).toMatchObject({ status: 'degraded', data_dir: { path: dataDir, full: true, free_bytes: 0 } });
    // Serving goes on, from production's version as it was.
    const infer = await post(url, '/v1/infer', { model: 'hotel', payload: rowPayload(demoModel().holdout.data, 0) });
    expect(infer.status).toBe(200);
    expect(((await infer.json()) as { version: number }).version).toBe(1);
    // Its audit record has nowhere to go: counted as lost (the flush runs every 50 ms).
    const lostCount = async () => Number(/^modelgate_audit_records_total\{result="lost"\} (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
    for (const until = Date.now() + 30_000; (await lostCount()) === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 50)));
    const lost = await lostCount();
    expect(lost).toBeGreaterThan(0);
    expect(await health()).toMatchObject({ status: 'degraded', audit: { written: false, since: expect.any(String), error: expect.stringMatching(/SQLITE_FULL|full|disk/i) } });

    // The CLI: the artifact it could not store, and the key it could not make, each said so (exit 1).
    const register = JSON.parse(readFileSync(path.join(ctl, 'register.out'), 'utf8')) as { error: { code: string; message: string } };
    expect(readFileSync(path.join(ctl, 'register.rc'), 'utf8').trim()).toBe('1');
    expect(register.error.code).toBe('UNAVAILABLE');
    expect(register.error.message).toMatch(
      new RegExp(`^no space left on the device holding ${dataDir}/artifacts \\(ENOSPC, 0 B free\\): free space there or give it a larger volume, then retry; artifact [0-9a-f]{64} was not written$`),
    );
    const keys = JSON.parse(readFileSync(path.join(ctl, 'keys.out'), 'utf8')) as { error: { code: string; message: string } };
    expect(readFileSync(path.join(ctl, 'keys.rc'), 'utf8').trim()).toBe('1');
    expect(keys.error.code).toBe('UNAVAILABLE');
    expect(keys.error.message).toMatch(/^the disk holding the SQLite database \S+modelgate\.db is full \(SQLITE_(FULL|IOERR\w*): .*; (0 B|[0-9.]+ KiB) free\): free space on it/);

    writeFileSync(path.join(ctl, 'free'), '');
    await waitFile(path.join(ctl, 'freed'));
    expect(await gauge('modelgate_data_dir_free_bytes')).toBeGreaterThan(4 * 1024 * 1024);
    expect((await health()).data_dir).toBeUndefined();
    const promoted = await post(url, '/v1/models/hotel/promote', { version: 2 });
    expect(promoted.status).toBe(200);
    // Nothing of the refused promote was kept: version 1 was still the one it replaced.
    expect(await promoted.json()).toMatchObject({ version: 2, previous_version: 1 });
    expect((await post(url, '/v1/keys', { name: 'ops', scopes: ['infer'] })).status).toBe(201);
    // The audit records lost while the disk was full are counted and said; once there is room they are kept again, and that is said too.
    expect(await gauge('modelgate_data_dir_free_bytes')).toBeGreaterThan(0);
    expect((await post(url, '/v1/infer', { model: 'hotel', payload: rowPayload(demoModel().holdout.data, 1) })).status).toBe(200);
    await run.waitFor(new RegExp(`audit records are (written to the database|spilled to disk) again; ${lost} were lost in all while neither the database nor the spill file took them`), 30_000);
    // The record written again ends what /health said of the audit log.
    for (const until = Date.now() + 30_000; (await health()).status !== 'healthy' && Date.now() < until; await new Promise((r) => setTimeout(r, 50)));
    expect(await health()).toMatchObject({ status: 'healthy' });
    expect((await health()).audit).toBeUndefined();
  }, 180_000);

  it('a server started on the full disk says so, waits, and starts once space is freed', async () => {
    const dataDir = tempDir();
    const ctl = tempDir();
    mkdirSync(ctl, { recursive: true });
    writeFileSync(path.join(ctl, 'fill'), '');
    run = runOnTmpfs({
      dir: dataDir,
      size: '8m',
      script: [...setup(), ...fill(ctl, dataDir), 'modelgate serve --json &', ...free(ctl, dataDir), 'wait'],
      env: env(dataDir),
    });
    await run.waitFor(
      /cannot start: the disk holding the SQLite database \S+modelgate\.db is full \(SQLITE_\w+: [^;]*; 0 B free\): free space on it or move MODELGATE_DATA_DIR to a larger volume, then retry; nothing was changed; not ready, retrying in 1 s/,
      120_000,
    );
    writeFileSync(path.join(ctl, 'free'), '');
    const url = await run.serverUrl(60_000);
    const health = (await (await fetch(`${url}/health`)).json()) as { models: { model: string; production: number }[] };
    expect(health.models).toEqual([expect.objectContaining({ model: 'hotel', production: 1 })]);
  }, 180_000);

  it('score, backup and predictions export writing to a full disk name it, and leave no partial file', async () => {
    const dataDir = tempDir();
    const ctl = tempDir();
    const holdout = demoModel().holdout.data;
    const columns = Object.keys(rowPayload(holdout, 0));
    const rows = Array.from({ length: 3000 }, (_, i) => rowPayload(holdout, i));
    const csv = path.join(ctl, 'bookings.csv');
    writeFileSync(csv, [columns.join(','), ...rows.map((r) => columns.map((c) => String(r[c] ?? '')).join(','))].join('\n'));
    writeFileSync(path.join(ctl, 'fill'), '');
    run = runOnTmpfs({
      dir: dataDir,
      size: '8m',
      script: [
        ...setup(),
        `dd if=/dev/zero of=${dataDir}/spare bs=16k count=1 2>/dev/null`,
        ...fill(ctl, dataDir),
        `modelgate score --model hotel --data ${JSON.stringify(csv)} --out ${dataDir}/scored/bookings.csv --json > ${ctl}/score.out 2>${ctl}/score.err || echo $? > ${ctl}/score.rc`,
        `modelgate backup --out ${dataDir}/backups/all.tar --json > ${ctl}/backup.out 2>${ctl}/backup.err || echo $? > ${ctl}/backup.rc`,
        `modelgate predictions export --model hotel --out ${dataDir}/exports/predictions.csv --json > ${ctl}/export.out 2>${ctl}/export.err || echo $? > ${ctl}/export.rc`,
        // Then with room for a few hundred rows: the disk fills between two writes.
        `rm ${dataDir}/spare`,
        `modelgate score --model hotel --data ${JSON.stringify(csv)} --out ${dataDir}/scored/bookings.csv --json > ${ctl}/score2.out 2>${ctl}/score2.err || echo $? > ${ctl}/score2.rc`,
        `ls -A ${dataDir}/backups ${dataDir}/exports ${dataDir}/scored > ${ctl}/left.txt || true`,
        `touch ${ctl}/done`,
      ],
      // The database and artifacts elsewhere: only the outputs meet the full disk.
      env: env(ctl),
    });
    await waitFile(path.join(ctl, 'done'));
    const score = JSON.parse(readFileSync(path.join(ctl, 'score.out'), 'utf8')) as { error: { code: string; message: string } };
    expect([readFileSync(path.join(ctl, 'score.rc'), 'utf8').trim(), score.error.code]).toEqual(['1', 'UNAVAILABLE']);
    // Not "cannot read as CSV": the write failed, not the read.
    expect(score.error.message).toBe(
      `no space left on the device holding ${dataDir}/scored (ENOSPC, 0 B free): free space there or give it a larger volume, then retry; nothing was written to ${dataDir}/scored/bookings.csv`,
    );
    const score2 = JSON.parse(readFileSync(path.join(ctl, 'score2.out'), 'utf8')) as { error: { code: string; message: string } };
    expect([readFileSync(path.join(ctl, 'score2.rc'), 'utf8').trim(), score2.error.code]).toEqual(['1', 'UNAVAILABLE']);
    expect(score2.error.message).toMatch(
      new RegExp(
        `^no space left on the device holding ${dataDir}/scored \\(ENOSPC, [0-9.]+ (B|KiB) free\\): free space there or give it a larger volume, then retry; nothing was written to ${dataDir}/scored/bookings.csv$`,
      ),
    );
    const backup = JSON.parse(readFileSync(path.join(ctl, 'backup.out'), 'utf8')) as { error: { code: string; message: string } };
    expect([readFileSync(path.join(ctl, 'backup.rc'), 'utf8').trim(), backup.error.code]).toEqual(['1', 'UNAVAILABLE']);
    expect(backup.error.message).toMatch(
      new RegExp(
        `^no space left on the device holding ${dataDir}/backups \\(ENOSPC, 0 B free\\): free space there or give it a larger volume, then retry; nothing was written to ${dataDir}/backups/all.tar \\(a backup needs about twice its size free there while it is made\\)$`,
      ),
    );
    const exported = JSON.parse(readFileSync(path.join(ctl, 'export.out'), 'utf8')) as { error: { code: string; message: string } };
    expect([readFileSync(path.join(ctl, 'export.rc'), 'utf8').trim(), exported.error.code]).toEqual(['1', 'UNAVAILABLE']);
    expect(exported.error.message).toBe(
      `no space left on the device holding ${dataDir}/exports (ENOSPC, 0 B free): free space there or give it a larger volume, then retry; nothing was written to ${dataDir}/exports/predictions.csv`,
    );
    // None left a temporary or partial file behind.
    expect(readFileSync(path.join(ctl, 'left.txt'), 'utf8').trim().split('\n')).toEqual([`${dataDir}/backups:`, '', `${dataDir}/exports:`, '', `${dataDir}/scored:`]);
  }, 180_000);
});
