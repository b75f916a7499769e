import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { tempDir } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { runOnTmpfs, type TmpfsProcess } from './helpers/tmpfs-process.js';
import { TOKEN } from './helpers/server.js';

/**
 * A full disk while spilling. The server runs in its own user and mount namespace (`unshare
 * -rm`, no privileges needed) with its data directory — SQLite database, artifacts, spill files
 * — on a 3 MiB tmpfs. Large audited payloads fill it: SQLite refuses the batches, the writer
 * spills, and the spill file cannot be written either. Serving must go on (every request 200),
 * the loss must be said clearly in the log and counted in modelgate_audit_records_total{result="lost"}.
 */
describe('audit log on a full disk', () => {
  const dataDir = tempDir();
  const onnxFile = path.join(tempDir(), 'hotel.onnx');
  const demo = demoModel();
  let server: TmpfsProcess;
  let url = '';
  beforeAll(async () => {
    writeFileSync(onnxFile, demo.onnx);
    server = runOnTmpfs({
      dir: dataDir,
      size: '3m',
      script: [
        `modelgate register --model hotel --onnx ${JSON.stringify(onnxFile)} --json >/dev/null`,
        'modelgate promote --model hotel --version 1 --json >/dev/null',
        'exec node "$CLI_MAIN" serve --json',
      ],
      env: { MODELGATE_DATA_DIR: dataDir, MODELGATE_ADMIN_TOKEN: TOKEN, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', AUDIT_FLUSH_MS: '50', CACHE_MAX_ITEMS: '0' },
    });
    url = await server.serverUrl(120_000);
  }, 120_000);
  afterAll(() => server?.kill());

  it('keeps serving, says the records are lost and why, and counts them', async () => {
    // 40 KB of extra payload per request, stored as sent (AUDIT_FEATURES=full): 3 MiB holds about 75.
    const pad = 'x'.repeat(40_000);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`${url}/v1/infer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'hotel', payload: { ...rowPayload(demo.holdout.data, i % 400), note: pad } }),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 60)); // let flushes run
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 300 });
    let lost = 0;
    for (const until = Date.now() + 20_000; lost === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      lost = Number(/^modelgate_audit_records_total\{result="lost"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    }
    expect(lost).toBeGreaterThan(0);
    expect(server.output()).toMatch(/cannot write the audit spill file while the database refuses records: these records are lost; free space in the spill directory/);
    // Said when a loss begins and when records are kept again (a smaller batch may fit for a
    // while), not at every flush of the full disk: the count is in the metric above.
    const began = server.output().match(/cannot write the audit spill file/g)?.length ?? 0;
    const ended = server.output().match(/audit records are (written to the database|spilled to disk) again; \d+ were lost in all/g)?.length ?? 0;
    expect(began).toBeGreaterThan(0);
    expect([0, 1]).toContain(began - ended);
    expect(server.output()).toMatch(/ENOSPC|no space left/i);
    // Still serving after all of it.
    const after = await fetch(`${url}/v1/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hotel', payload: rowPayload(demo.holdout.data, 1) }),
    });
    expect(after.status).toBe(200);
  }, 120_000);
});
