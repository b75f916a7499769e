import { readdir } from 'node:fs/promises';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { AuditWriter } from '../src/audit/index.js';
import { predictionId } from '../src/lib/ids.js';
import { createLogger } from '../src/lib/logger.js';
import { auditRecord } from './helpers/audit-record.js';
import { DIALECTS } from './helpers/db.js';
import { ManualTimers } from './helpers/manual-timers.js';
import { startTestServer } from './helpers/server.js';

const record = (id: string, i: number) => auditRecord(id, new Date(Date.UTC(2026, 10, 24, 10) + i).toISOString());

for (const dialect of DIALECTS) {
  describe(`spilled audit records on an idle server (${dialect})`, () => {
    it('reach the table once the database is back, with no new prediction to set it off; one warning while down, not one per try', async () => {
      const s = await startTestServer({ dialect, jobs: false });
      const timers = new ManualTimers();
      const lines: { level: string; msg: string }[] = [];
      const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l)) });
      const spillDir = `${s.dataDir}/idle-spill`;
      const writer = new AuditWriter({ store: s.ctx.audit, log, spillDir, flushMs: 100, batchRows: 500, queueMax: 100_000, timers });
      /** n flush ticks, each run to its end (the next is armed only once a run finishes). */
      const ticks = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await timers.advance(100);
          while (timers.armed === 0) await new Promise((r) => setTimeout(r, 1));
        }
      };
      try {
        writer.start();
        // A real refusal: the table is gone, so every write errors.
        await sql`alter table predictions rename to predictions_away`.execute(s.ctx.db.kysely);
        const ids = Array.from({ length: 7 }, () => predictionId());
        ids.forEach((id, i) => writer.record(record(id, i)));
        await ticks(1);
        expect((await readdir(spillDir)).length).toBe(1);
        // Idle and still down for a minute of ticks: the writer keeps trying, quietly.
        await ticks(600);
        const warnings = lines.filter((l) => l.level !== 'info');
        expect(warnings.map((l) => l.msg)).toEqual([expect.stringContaining('the database refuses audit records')]);
        expect(writer.refusal).toBeDefined();

        await sql`alter table predictions_away rename to predictions`.execute(s.ctx.db.kysely);
        // No record comes; within two seconds of ticks the spill file is replayed.
        await ticks(20);
        expect(await readdir(spillDir)).toEqual([]);
        const stored = await s.ctx.audit.query({ limit: 100 });
        expect(stored.map((p) => p.id).sort()).toEqual([...ids].sort());
        expect(lines.some((l) => l.msg.includes('takes audit records again'))).toBe(true);
        expect(writer.refusal).toBeUndefined();
        // Back to normal: the next record goes straight to the table.
        const late = predictionId();
        writer.record(record(late, 99));
        await ticks(1);
        expect((await s.ctx.audit.query({ limit: 100 })).map((p) => p.id)).toContain(late);
        expect(await readdir(spillDir)).toEqual([]);
      } finally {
        await writer.close();
        await s.stop();
      }
    });
  });
}
