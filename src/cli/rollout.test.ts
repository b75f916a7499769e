import { describe, expect, it } from 'vitest';
import { decisionShares } from './rollout.js';

describe('canary status: the arms decision shares', () => {
  it('in one order for both arms, production’s most frequent first, then what only the canary decides', () => {
    expect(decisionShares({ act: 0.362, none: 0.638 }, { none: 0.609, act: 0.391 })).toEqual({ production: 'none=63.8% act=36.2%', canary: 'none=60.9% act=39.1%' });
    expect(decisionShares({ allow: 0.7, review: 0.3 }, { block: 0.1, review: 0.2, allow: 0.7 })).toEqual({
      production: 'allow=70.0% review=30.0% block=0.0%',
      canary: 'allow=70.0% review=20.0% block=10.0%',
    });
    // No requests yet on either arm: nothing to show.
    expect(decisionShares({}, {})).toEqual({ production: '', canary: '' });
  });
});
