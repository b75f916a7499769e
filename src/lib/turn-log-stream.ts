import { writeSync } from 'node:fs';

/** The calls TurnLogStream makes on the stream it feeds (sonic-boom's). */
export interface LogDestination {
  write(text: string): boolean;
  flush(cb?: (err?: Error | null) => void): void;
  flushSync(): void;
}

/**
 * Log lines gathered during one turn of the event loop and handed to the destination as one
 * write, at the end of the turn.
 *
 * sonic-boom, pino's asynchronous file stream, appends each line to the text waiting for the
 * next write and then measures that whole text (`Buffer.byteLength`, which first copies the
 * appended string into one piece). With an access line per request, the lines of a busy turn
 * — and of every turn while a write is still under way — made each line cost more than the
 * one before: 3.5–4.5 µs a line where pino building it is 1.4 (measured alone, 20 lines a
 * turn, docs/performance.md). Joined here, sonic-boom sees one string per turn.
 *
 * Nothing waits longer than the turn it was logged in, and nothing is lost on exit: the
 * `exit` handler writes what the destination holds, then this turn's lines, synchronously.
 */
export class TurnLogStream {
  private pending: string[] = [];
  private scheduled = false;

  /** `fd`: the descriptor `dest` writes to, for the lines written on exit. */
  constructor(
    private readonly dest: LogDestination,
    private readonly fd: number,
    private readonly defer: (fn: () => void) => void = setImmediate,
  ) {}

  write(line: string): boolean {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      this.defer(this.endOfTurn);
    }
    return true;
  }

  private readonly endOfTurn = (): void => {
    this.scheduled = false;
    const text = this.take();
    if (text) this.dest.write(text);
  };

  /** pino's logger.flush(): this turn's lines to the destination, then its own flush. */
  flush(cb?: (err?: Error | null) => void): void {
    const text = this.take();
    if (text) this.dest.write(text);
    this.dest.flush(cb);
  }

  /**
   * Everything out before this returns (on exit, where no callback will run): the destination's
   * own pending text first, so lines keep their order, then this turn's lines.
   */
  flushSync(): void {
    const text = this.take();
    this.dest.flushSync();
    if (text) writeAllSync(this.fd, text);
  }

  private take(): string {
    if (this.pending.length === 0) return '';
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    return text;
  }
}

/** write(2) until every byte is out; a full non-blocking pipe (EAGAIN) is waited for, as sonic-boom does. */
function writeAllSync(fd: number, text: string): void {
  let buf = Buffer.from(text, 'utf8');
  for (let tries = 0; buf.length > 0;) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'EAGAIN' && code !== 'EBUSY') || ++tries > 100) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}
