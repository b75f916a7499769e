import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_COLUMNS, predictionsCsv } from '../src/audit/index.js';
import { DIALECTS } from './helpers/db.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { turnsDuring } from './helpers/turns.js';

const ROWS = 30_000;

/** Downloads a URL in another process (a client that reads as fast as the server writes) and counts its lines. */
function download(url: string, authorization: string): Promise<{ lines: number }> {
  const script = `(async () => {
    const r = await fetch(process.argv[1], { headers: { authorization: process.argv[2] } });
    if (r.status !== 200) throw new Error('status ' + r.status + ': ' + (await r.text()));
    let lines = 0;
    for await (const chunk of r.body) for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    process.stdout.write(JSON.stringify({ lines }));
  })().catch((e) => { console.error(e); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, url, authorization], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`download failed (${code}): ${err}`))));
  });
}

for (const dialect of DIALECTS) {
  describe(`GET /v1/predictions.csv on ${dialect}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect, listen: true, jobs: false });
      // Written directly: the export reads what is stored, however it got there.
      if (dialect === 'sqlite') {
        await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${ROWS})
          insert into predictions (id, at, model, version, arm, event_id, features, features_sha256, score, label, decision, latency_ms, cached, key_id)
          select printf('p%08d', i), strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-20T12:00:00Z', '+' || i || ' seconds'), 'hotel', 1, 'production', null,
            '{"lead_time":' || i || ',"hotel":"City Hotel"}', null, 0.25, null, 'none', 1.5, 0, null from n`.execute(s.ctx.db.kysely);
      } else {
        await sql`insert into predictions (id, at, model, version, arm, event_id, features, features_sha256, score, label, decision, latency_ms, cached, key_id)
          select 'p' || lpad(i::text, 8, '0'), timestamptz '2026-11-20T12:00:00Z' + i * interval '1 second', 'hotel', 1, 'production', null,
            json_build_object('lead_time', i, 'hotel', 'City Hotel'), null, 0.25, null, 'none', 1.5, 0, null from generate_series(1, ${ROWS}) as i`.execute(s.ctx.db.kysely);
      }
    });
    afterAll(() => s?.stop());

    it('streams every record to a client reading as fast as the server writes', async () => {
      const result = await download(`${s.url}/v1/predictions.csv?model=hotel`, s.auth.authorization);
      expect(result.lines).toBe(ROWS + 1);
    });

    it('gives the event loop a turn every few milliseconds of export work', async () => {
      // A client as fast as loopback seldom fills the socket, so the response stream seldom
      // makes the server wait; on SQLite, whose driver is synchronous, an export without turns
      // of its own held every other request (health checks included) until its last row: 30 s
      // for 1.8 million records. Counted on the stream the route sends, apart from the socket.
      const store = s.ctx.audit;
      const { result, turns } = await turnsDuring(
        (async () => {
          let lines = 0;
          let header = '';
          for await (const chunk of predictionsCsv(store, { model: 'hotel' })) {
            if (!header) header = chunk;
            for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines++;
          }
          return { lines, header };
        })(),
      );
      expect(result.header.trim()).toBe(EXPORT_COLUMNS.join(','));
      expect(result.lines).toBe(ROWS + 1);
      // About one turn per 2 ms of work (30,000 rows take 0.3 s or more); without them, none on SQLite.
      expect(turns).toBeGreaterThan(25);
    });
  });
}
