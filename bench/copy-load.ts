/**
 * Writes audit records to PostgreSQL at a set rate, the way the audit writer does (COPY text,
 * one pipelined COPY per batch), with nothing else: bench/access.ts runs it beside an audit-off
 * server to show what PostgreSQL's share of two cores alone costs that server.
 * Environment: DATABASE_URL, RATE (records a second), PAYLOAD (the JSON features of a record).
 */
import pg from 'pg';
import { COPY_PREDICTIONS, CopyBatch } from '../src/audit/copy-batch.js';
import { PipelinedCopy } from '../src/db/pg-copy.js';
import { predictionId } from '../src/lib/ids.js';
import { isoTime } from '../src/lib/iso-time.js';

const rate = Number(process.env.RATE);
const features = process.env.PAYLOAD ?? '{}';
if (!process.env.DATABASE_URL || !(rate > 0)) throw new Error('set DATABASE_URL and RATE');
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const everyMs = 50;
const perTick = Math.max(1, Math.round((rate * everyMs) / 1000));
let busy = false;
setInterval(() => {
  // Paused with SIGSTOP between slices: a late tick writes one batch, never a backlog.
  if (busy) return;
  busy = true;
  const batch = new CopyBatch();
  for (let i = 0; i < perTick; i++)
    batch.add({
      id: predictionId(),
      at: isoTime(Date.now()),
      model: 'hotel-cancel',
      version: 1,
      arm: 'production',
      event_id: null,
      features,
      features_sha256: null,
      score: Math.random(),
      decision: 'act',
      latency_ms: 0.25,
      cached: false,
      key_id: 'admin-token',
      label: null,
    });
  client
    .query(new PipelinedCopy(COPY_PREDICTIONS, batch.data()))
    .done.catch((e) => {
      process.stderr.write(`copy-load: ${(e as Error).message}\n`);
      process.exit(1);
    })
    .finally(() => (busy = false));
}, everyMs);
// The bench harness waits for a JSON line with a url before it goes on.
process.stdout.write('{"url":"copy-load: writing"}\n');
