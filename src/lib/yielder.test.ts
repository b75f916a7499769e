import { describe, expect, it } from 'vitest';
import { Yielder } from './yielder.js';

describe('Yielder', () => {
  it('asks for a pause once the budget has passed, reading the clock every 64 calls', async () => {
    let t = 0;
    let reads = 0;
    const y = new Yielder(2, () => {
      reads++;
      return t;
    });
    const dueAt = () => {
      for (let i = 1; i <= 1000; i++) if (y.due()) return i;
      return -1;
    };
    // Within the budget: never due, however many calls.
    expect(dueAt()).toBe(-1);
    expect(reads).toBe(1 + Math.floor(1000 / 64));
    t = 2;
    // 1000 calls so far: the next clock read is at call 1024, the 24th of this round.
    expect(dueAt()).toBe(24);
    await y.pause();
    expect(dueAt()).toBe(-1);
    t = 5;
    expect(y.due() || dueAt() > 0).toBe(true);
  });

  it('pause lets a callback queued before it run before the loop goes on', async () => {
    const y = new Yielder();
    let fired = false;
    setImmediate(() => (fired = true));
    await y.pause();
    expect(fired).toBe(true);
  });
});
