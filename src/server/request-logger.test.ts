import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { FastifyBaseLogger } from 'fastify';
import { createLogger } from '../lib/logger.js';
import { LazyRequestLogger } from './request-logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const parent = createLogger('info', sink);
  let children = 0;
  const child = parent.child;
  // Counts the children made of a real pino logger (pino's children inherit this method, and `this` is each one).
  parent.child = function (this: typeof parent, ...a: Parameters<typeof child>) {
    children++;
    return child.apply(this, a);
  } as typeof parent.child;
  return { parent: parent as FastifyBaseLogger, lines, children: () => children };
}

describe('LazyRequestLogger', () => {
  it('makes no child until something is logged, then one, bound and redacted like an eager child', () => {
    const c = capture();
    const log = new LazyRequestLogger(c.parent, { request_id: 'req-1' }, {});
    expect(log.level).toBe('info');
    expect(c.children()).toBe(0);
    log.info({ token: 'SECRET-TOKEN', code: 'X' }, 'request rejected');
    log.error('second line');
    log.debug('below the level: not written');
    expect(c.children()).toBe(1);
    expect(c.lines).toHaveLength(2);
    expect(c.lines[0]).toMatchObject({ level: 'info', request_id: 'req-1', token: '[redacted]', code: 'X', msg: 'request rejected' });
    expect(c.lines[1]).toMatchObject({ level: 'error', request_id: 'req-1', msg: 'second line' });
  });

  it('a level set on it applies to it alone', () => {
    const c = capture();
    const log = new LazyRequestLogger(c.parent, { request_id: 'req-2' }, {});
    log.level = 'error';
    log.info('dropped');
    log.error('kept');
    c.parent.info('the parent still logs info');
    expect(c.lines.map((l) => l.msg)).toEqual(['kept', 'the parent still logs info']);
    expect(log.level).toBe('error');
  });

  it('children of it carry both bindings', () => {
    const c = capture();
    new LazyRequestLogger(c.parent, { request_id: 'req-3' }, {}).child({ part: 'x' }).warn('w');
    expect(c.lines[0]).toMatchObject({ request_id: 'req-3', part: 'x', level: 'warn' });
  });
});
