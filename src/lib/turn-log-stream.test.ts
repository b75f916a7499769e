import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TurnLogStream, type LogDestination } from './turn-log-stream.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'turn-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A destination that records each write it is handed. */
function recorder(): LogDestination & { writes: string[] } {
  return {
    writes: [],
    write(text) {
      this.writes.push(text);
      return true;
    },
    flush(cb) {
      cb?.();
    },
    flushSync() {},
  };
}

/** Deferred calls run when the test says the turn ends. */
function turns() {
  const queued: (() => void)[] = [];
  return { defer: (fn: () => void) => void queued.push(fn), end: () => queued.splice(0).forEach((fn) => fn()), queued };
}

describe('TurnLogStream', () => {
  it("hands a turn's lines to the destination as one write, in order, when the turn ends", () => {
    const dest = recorder();
    const t = turns();
    const s = new TurnLogStream(dest, -1, t.defer);
    s.write('a\n');
    s.write('b\n');
    s.write('c\n');
    expect(dest.writes).toEqual([]);
    expect(t.queued).toHaveLength(1); // one end-of-turn call however many lines
    t.end();
    expect(dest.writes).toEqual(['a\nb\nc\n']);
    s.write('d\n');
    t.end();
    t.end(); // a turn with nothing logged writes nothing
    expect(dest.writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it("flush() (pino's logger.flush) writes this turn's lines, then flushes the destination", () => {
    const dest = recorder();
    const t = turns();
    const s = new TurnLogStream(dest, -1, t.defer);
    s.write('a\n');
    let flushed = false;
    s.flush(() => (flushed = true));
    expect(dest.writes).toEqual(['a\n']);
    expect(flushed).toBe(true);
    t.end();
    expect(dest.writes).toEqual(['a\n']);
  });

  it('flushSync() writes what sonic-boom still holds, then this turn’s lines, to the file before it returns', () => {
    const file = path.join(dir, 'sync.log');
    // minLength keeps sonic-boom from starting a write of its own, so its lines are still held when flushSync runs.
    const fd = openSync(file, 'w');
    const sonic = pino.destination({ dest: fd, sync: false, minLength: 4096 });
    const t = turns();
    const s = new TurnLogStream(sonic, fd, t.defer);
    try {
      s.write('first turn 1\n');
      s.write('first turn 2\n');
      t.end(); // now held inside sonic-boom
      s.write('this turn\n');
      expect(readFileSync(file, 'utf8')).toBe('');
      s.flushSync();
      expect(readFileSync(file, 'utf8')).toBe('first turn 1\nfirst turn 2\nthis turn\n');
    } finally {
      sonic.destroy(); // closes fd
    }
  });

  it('a server process that logs and exits in the same turn loses no line, to a pipe or to a file', () => {
    const logger = path.join(path.dirname(fileURLToPath(import.meta.url)), 'logger.ts');
    // 5,000 lines logged in one turn, then process.exit: only the exit handler can write them.
    const script = `
      import { createServerLogger } from ${JSON.stringify(logger)};
      const log = createServerLogger('info');
      for (let i = 0; i < 5000; i++) log.info({ i }, 'line');
      log.warn('last');
      process.exit(3);
    `;
    const run = (stdout: 'pipe' | number) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', stdout, 'pipe'] });
    const check = (text: string) => {
      const lines = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { i?: number; msg: string; level: string });
      expect(lines).toHaveLength(5001);
      expect(lines.slice(0, 5000).map((l) => l.i)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
      expect(lines[5000]).toMatchObject({ level: 'warn', msg: 'last' });
    };
    const piped = run('pipe');
    expect(piped.status, piped.stderr).toBe(3);
    check(piped.stdout);
    const file = path.join(dir, 'exit.log');
    const out = openSync(file, 'w');
    const toFile = run(out);
    closeSync(out);
    expect(toFile.status, toFile.stderr).toBe(3);
    check(readFileSync(file, 'utf8'));
  });
});
