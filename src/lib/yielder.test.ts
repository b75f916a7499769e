import { describe, expect, it } from 'vitest';
import { drain, drainYielding, Yielder } from './yielder.js';

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

  it('drainYielding lets the event loop turn whenever the steps have taken the budget; drain runs them in one go', async () => {
    let now = 0;
    let turn = 0;
    let spinning = true;
    const spin = () => {
      turn++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const seen: number[] = [];
    // Each step takes 1 ms of the injected clock.
    function* steps(): Generator<void, string> {
      for (let i = 0; i < 10; i++) {
        seen.push(turn);
        now += 1;
        yield;
      }
      return 'done';
    }
    try {
      expect(await drainYielding(steps(), new Yielder(2, () => now))).toBe('done');
      // Two steps a turn with a 2-ms budget: the loop turned after every second step.
      expect(seen).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
      seen.length = 0;
      const before = turn;
      expect(drain(steps())).toBe('done');
      expect(seen).toEqual(new Array(10).fill(before));
    } finally {
      spinning = false;
    }
  });
});
