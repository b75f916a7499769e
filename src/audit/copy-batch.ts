import type { PredictionRecord } from './record.js';

/** The audit table's columns, in the order COPY lines and INSERTs give them. */
export const COLUMNS = 'id, at, model, version, arm, event_id, features, features_sha256, score, decision, latency_ms, cached, key_id, label';

/** The COPY that takes a CopyBatch's data. */
export const COPY_PREDICTIONS = `copy predictions (${COLUMNS}) from stdin`;

const SPECIAL = /[\\\n\r\t]/;

/** A value for COPY's text format: \N for null; backslash, newline, CR and tab escaped. */
function field(v: string | null): string {
  if (v === null) return '\\N';
  // Nearly every value (ids, names, JSON, which never holds a raw control character) needs no escaping.
  return SPECIAL.test(v) ? v.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t')) : v;
}

/** field() for JSON text, which never holds a raw newline, CR or tab: only a backslash needs escaping, and includes() finds one faster than a regular expression. */
function jsonField(v: string | null): string {
  if (v === null) return '\\N';
  return v.includes('\\') ? field(v) : v;
}

function unfield(v: string): string | null {
  if (v === '\\N') return null;
  return v.includes('\\') ? v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c)) : v;
}

/** One record as a line of COPY's text format (columns in COLUMNS order, newline included). */
export function copyLine(r: PredictionRecord): string {
  return `${field(r.id)}\t${r.at}\t${field(r.model)}\t${r.version}\t${field(r.arm)}\t${field(r.event_id)}\t${jsonField(r.features)}\t${field(r.features_sha256)}\t${r.score}\t${field(r.decision)}\t${r.latency_ms}\t${r.cached ? 1 : 0}\t${field(r.key_id)}\t${field(r.label)}\n`;
}

/** The record a copyLine (without its newline) holds. */
export function parseCopyLine(line: string): PredictionRecord {
  const f = line.split('\t');
  // 13 fields: a spill file written before predictions kept a label.
  if (f.length !== 14 && f.length !== 13) throw new Error(`an audit COPY line has ${f.length} fields, not 14`);
  return {
    id: unfield(f[0])!,
    at: f[1],
    model: unfield(f[2])!,
    version: Number(f[3]),
    arm: unfield(f[4])!,
    event_id: unfield(f[5]),
    features: unfield(f[6]),
    features_sha256: unfield(f[7]),
    score: Number(f[8]),
    decision: unfield(f[9])!,
    latency_ms: Number(f[10]),
    cached: f[11] === '1',
    key_id: unfield(f[12]),
    label: f.length > 13 ? unfield(f[13]) : null,
  };
}

const INITIAL_BYTES = 64 * 1024;

/**
 * Audit records waiting for one write, held as COPY text in a Buffer. Each record is encoded
 * the moment it is added, so the queue holds no JavaScript objects for the garbage collector
 * to copy while they wait (a Buffer's bytes live outside the V8 heap), and a PostgreSQL flush
 * has nothing left to build: the bytes go to the socket as they are. INSERT on SQLite and
 * the spill file read the records back with records().
 */
export class CopyBatch {
  private buf: Buffer;
  private bytes = 0;
  private count = 0;

  /** `capacity`: bytes to start with, for example the size of the last full batch, so the buffer need not grow. */
  constructor(capacity = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, capacity));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of COPY text held. */
  get byteLength(): number {
    return this.bytes;
  }

  add(r: PredictionRecord): void {
    const line = copyLine(r);
    // A UTF-16 code unit takes at most 3 bytes of UTF-8; Buffer.write would silently cut a line short.
    const need = this.bytes + line.length * 3;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.bytes);
      this.buf = grown;
    }
    this.bytes += this.buf.write(line, this.bytes, 'utf8');
    this.count++;
  }

  /** The COPY text of every record added, newline-terminated lines. */
  data(): Buffer {
    return this.buf.subarray(0, this.bytes);
  }

  records(): PredictionRecord[] {
    if (!this.count) return [];
    const lines = this.buf.toString('utf8', 0, this.bytes).split('\n');
    lines.pop(); // after the last newline
    return lines.map(parseCopyLine);
  }
}
