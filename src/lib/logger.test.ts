import { describe, expect, it } from 'vitest';
import { accessLineWriter, createLogger } from './logger.js';

/** A pino destination that keeps every line written to it. */
function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => lines.push(s) } };
}

// Values a request's fields can hold: odd paths (quotes, backslashes, non-ASCII as node's HTTP
// parser hands them over, a control character), long ones, ids given by callers.
const CASES: [string, string, string, number, number][] = [
  ['18c4204d-1', 'POST', '/v1/infer', 200, 0.431],
  ['caller.id_7', 'GET', '/v1/models/churn/versions/3', 404, 12],
  ['x', 'DELETE', '/v1/keys/"quoted"', 400, 0],
  ['y', 'GET', '/a\\b\\\\c', 500, 1e-7],
  ['z', 'GET', '/caf\u00e9/\u00ff\u0080', 200, 123456.789],
  ['w', 'GET', '/tab\there', 200, 3.5],
  ['v', 'GET', `/${'long'.repeat(40)}"`, 200, 0.001],
  ['u', 'PATCH', '/\u{1F600}/\ud800', 204, Number.NaN],
];

describe('the access line', () => {
  it('is byte for byte what pino writes for the same fields, with and without bindings, in either LOG_FORMAT', () => {
    for (const format of ['json', 'gcp'] as const)
      for (const bindings of [undefined, { worker: 2, host: 'a"b' }]) {
        const ours = capture();
        const theirs = capture();
        const base = createLogger('info', ours.stream as never, format);
        const write = accessLineWriter(bindings ? base.child(bindings) : base)!;
        const pinoBase = createLogger('info', theirs.stream as never, format);
        const viaPino = (bindings ? pinoBase.child(bindings) : pinoBase).child({}, { redact: [] });
        for (const [id, method, url, status, ms] of CASES) {
          write(id, method, url, status, ms);
          viaPino.info({ request_id: id, method, url, status, ms }, 'request completed');
        }
        // pino's lines carry the time it wrote them; compared without it, and the times checked apart.
        const untimed = (l: string) => l.replace(/,"time":("[^"]*"|\d+),/, ',"time":T,');
        expect(ours.lines.map(untimed)).toEqual(theirs.lines.map(untimed));
        const timeOf = (l: string) => (format === 'json' ? Number(/"time":(\d+)/.exec(l)![1]) : Date.parse(/"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"/.exec(l)![1]!));
        for (const l of ours.lines) expect(Math.abs(timeOf(l) - Date.now())).toBeLessThan(60_000);
        // And each line reads back as the fields given.
        const spelled = format === 'json' ? { level: 'info', msg: 'request completed' } : { severity: 'INFO', message: 'request completed' };
        ours.lines.forEach((l, i) => {
          const parsed = JSON.parse(l) as Record<string, unknown>;
          expect(parsed).toMatchObject({ ...spelled, service: 'modelgate', request_id: CASES[i][0], method: CASES[i][1], status: CASES[i][3] });
          expect(parsed.url).toBe(CASES[i][2]);
          if (bindings) expect(parsed).toMatchObject(bindings);
        });
      }
  });

  it("LOG_FORMAT=gcp spells each level as Cloud Logging's severity, and keeps no pino level field", () => {
    const out = capture();
    const log = createLogger('trace', out.stream as never, 'gcp');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error(new Error('boom'), 'e');
    log.fatal('f');
    const lines = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.severity, l.message])).toEqual([
      ['DEBUG', 't'],
      ['DEBUG', 'd'],
      ['INFO', 'i'],
      ['WARNING', 'w'],
      ['ERROR', 'e'],
      ['CRITICAL', 'f'],
    ]);
    for (const l of lines) expect(Object.keys(l)).not.toContain('level');
    expect((lines[4]!.err as { stack: string }).stack).toMatch(/^Error: boom\n/);
  });

  it('is not written below info, and a logger pino must format itself still gets the line', () => {
    expect(accessLineWriter(createLogger('warn', capture().stream as never))).toBeUndefined();
    const out = capture();
    const log = createLogger('info', out.stream as never).child({}, { msgPrefix: '[edge] ' });
    accessLineWriter(log)!('id-1', 'GET', '/healthz', 200, 1.5);
    expect(JSON.parse(out.lines[0])).toMatchObject({ request_id: 'id-1', url: '/healthz', msg: '[edge] request completed' });
  });
});
