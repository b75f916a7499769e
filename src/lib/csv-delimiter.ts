import { open, stat } from 'node:fs/promises';
import { AppError } from './errors.js';
import { PassThrough, Transform, type Readable } from 'node:stream';

export type Delimiter = ',' | ';' | '\t' | '|';

const OTHERS: Delimiter[] = [';', '\t', '|'];
/** Enough of a file to hold any real header line. */
const HEAD_BYTES = 64 * 1024;

/**
 * The field delimiter of a CSV, read from its header line: a comma unless the header has none
 * and has semicolons, tabs or bars (spreadsheets in many locales save "CSV" with semicolons, and
 * databases export tabs). A file whose header has a comma is always read with commas, so no
 * comma-separated file reads differently than it did.
 */
export function delimiterOf(head: string): Delimiter {
  const named = SEP_LINE.exec(head)?.[1] as Delimiter | undefined;
  if (named) return named;
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of head) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  if (counts.get(',')) return ',';
  let best: Delimiter = ',';
  for (const d of OTHERS) if ((counts.get(d) ?? 0) > (counts.get(best) ?? 0)) best = d;
  return best;
}

/**
 * The first line Excel writes in some locales' "CSV" exports to name the delimiter (`sep=;`),
 * before the header; Excel reads it back the same way. Seen with a byte-order mark before it.
 */
const SEP_LINE = /^\uFEFF?sep=([,;\t|])\r?\n/;
/** Enough bytes for a byte-order mark and the longest sep line. */
const SEP_LINE_BYTES = 16;

/**
 * A CSV's bytes without Excel's `sep=` first line when it has one (else unchanged), so the
 * header is the first line the parser sees; `dropped` says, once the first bytes have passed,
 * whether there was one (a line number in a message counts it).
 */
export function withoutSepLine(): Transform & { dropped: boolean } {
  let head: Buffer | undefined = Buffer.alloc(0);
  const cut = (b: Buffer): Buffer => {
    const m = SEP_LINE.exec(b.subarray(0, SEP_LINE_BYTES).toString('utf8'));
    if (!m) return b;
    t.dropped = true;
    return b.subarray(Buffer.byteLength(m[0]));
  };
  const t = Object.assign(
    new Transform({
      transform(chunk: Buffer | string, _encoding, done) {
        if (!head) return done(null, chunk);
        head = Buffer.concat([head, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
        if (head.length < SEP_LINE_BYTES && !head.includes(10)) return done();
        const rest = cut(head);
        head = undefined;
        done(null, rest);
      },
      flush(done) {
        if (head?.length) this.push(cut(head));
        head = undefined;
        done();
      },
    }),
    { dropped: false },
  );
  return t;
}

/** The delimiter of a CSV file, from its first 64 KB. */
export async function fileDelimiter(file: string): Promise<Delimiter> {
  // These commands read the file from its start again (its head here, then all of it; train and
  // evaluate with a baseline twice): a pipe cannot be, and failed as "ESPIPE: invalid seek".
  if (!(await stat(file)).isFile()) {
    throw new AppError(
      'BAD_REQUEST',
      `cannot read ${file}: it is a pipe or a device, and this command reads its file from the start more than once; save the rows to a file first (for example: … > rows.csv) and give that`,
    );
  }
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buf, 0, HEAD_BYTES, 0);
    return delimiterOf(buf.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

/** A name for messages: "semicolons" rather than ";". */
export const delimiterName = (d: Delimiter): string => ({ ',': 'commas', ';': 'semicolons', '\t': 'tabs', '|': 'bars' })[d];

/**
 * The delimiter of a CSV stream (a local file or an S3 object), read from its first line, and
 * a stream that still yields every byte: what was read to decide goes out first.
 */
export async function streamDelimiter(input: Readable): Promise<{ delimiter: Delimiter; input: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  await new Promise<void>((resolve, reject) => {
    const finish = () => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
      resolve();
    };
    const onEnd = () => {
      ended = true;
      finish();
    };
    const onError = (e: Error) => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      reject(e);
    };
    const onReadable = () => {
      let c: Buffer | string | null;
      while ((c = input.read() as Buffer | string | null) !== null) {
        const b = typeof c === 'string' ? Buffer.from(c) : c;
        chunks.push(b);
        size += b.length;
        if (size >= HEAD_BYTES || b.includes(10)) return finish();
      }
    };
    input.on('readable', onReadable);
    input.once('end', onEnd);
    input.once('error', onError);
  });
  const head = Buffer.concat(chunks);
  const out = new PassThrough();
  if (ended) out.end(head);
  else {
    out.write(head);
    input.on('error', (e) => out.destroy(e));
    input.pipe(out);
  }
  return { delimiter: delimiterOf(head.toString('utf8')), input: out };
}
