import type pg from 'pg';

type Connection = Parameters<pg.Submittable['submit']>[0] & { stream: NodeJS.WritableStream };

/**
 * `COPY … FROM STDIN` sent as one socket write: the query, every row and the end-of-data
 * marker go out together. The usual client (pg-copy-streams) waits for the server's
 * CopyInResponse before sending rows, then sends the data header, the data and the end marker
 * as separate writes — four writes and an extra round trip per COPY (in the V8 profile of a
 * loaded server, 4.8 % of its time in those writes against 4.1 % for the one write). The
 * protocol allows sending ahead: a backend whose COPY fails sends its error, then ignores the
 * copy messages that follow until the next query, so the connection stays in step either way.
 *
 * `text` must be COPY's text format, rows ending in a newline.
 */
export class PipelinedCopy implements pg.Submittable {
  /** Rows the server reports as copied; settles once, on completion or the first error. */
  readonly done: Promise<number>;
  private resolve!: (n: number) => void;
  private reject!: (e: Error) => void;
  private settled = false;
  private rows = 0;

  constructor(
    private readonly statement: string,
    private readonly text: string,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: Connection): void {
    const q = Buffer.byteLength(this.statement);
    const d = Buffer.byteLength(this.text);
    // Query ('Q', length, statement, NUL), CopyData ('d', length, rows), CopyDone ('c', length).
    const buf = Buffer.allocUnsafe(1 + 4 + q + 1 + (1 + 4 + d) + (1 + 4));
    let o = 0;
    buf[o++] = 0x51;
    o = buf.writeUInt32BE(4 + q + 1, o);
    o += buf.write(this.statement, o);
    buf[o++] = 0;
    buf[o++] = 0x64;
    o = buf.writeUInt32BE(4 + d, o);
    o += buf.write(this.text, o);
    buf[o++] = 0x63;
    buf.writeUInt32BE(4, o);
    connection.stream.write(buf);
  }

  /** The rows are already on their way. */
  handleCopyInResponse(): void {}

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }

  handleError(err: Error): void {
    this.settle(err);
  }

  handleReadyForQuery(): void {
    this.settle();
  }

  /**
   * Called once when the COPY settles. With a `query_timeout`, pg wraps this to clear its timer;
   * left uncalled, the timer would outlive every COPY.
   */
  callback: (err?: Error) => void = () => undefined;

  private settle(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(err);
    if (err) this.reject(err);
    else this.resolve(this.rows);
  }
}
