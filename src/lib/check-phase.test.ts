import { describe, expect, it } from 'vitest';
import { checkPhase } from './check-phase.js';

describe('checkPhase', () => {
  it('every caller in a turn shares one promise, settled in the check phase after callbacks queued before it', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('immediate queued first'));
    const a = checkPhase();
    const b = checkPhase();
    expect(a).toBe(b);
    void a.then(() => order.push('a'));
    void b.then(() => order.push('b'));
    expect(order).toEqual([]);
    await a;
    expect(order).toEqual(['immediate queued first', 'a', 'b']);
  });

  it('a caller after the phase settled waits for the next one', async () => {
    const first = checkPhase();
    await first;
    const second = checkPhase();
    expect(second).not.toBe(first);
    let settled = false;
    void second.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await second;
    expect(settled).toBe(true);
  });
});
