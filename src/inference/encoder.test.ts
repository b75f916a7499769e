import { describe, expect, it } from 'vitest';
import type { Contract } from './contract.js';
import { createEncoder } from './encoder.js';

const contract = {
  contract_version: 1,
  layout: 'columns',
  features: [
    { name: 'amount', type: 'float', input: 'amount' },
    { name: 'age', type: 'int64', input: 'age' },
    { name: 'items', type: 'int32', input: 'items' },
    { name: 'plan', type: 'string', input: 'plan' },
    { name: 'active', type: 'bool', input: 'active' },
  ],
} as Contract;
const ok = { amount: 12.5, age: 40, items: 2, plan: 'basic', active: true };
const encoder = createEncoder(contract);
const refusal = (change: Record<string, unknown>) => {
  try {
    encoder.encode({ ...ok, ...change }, 'payload');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('a value of the wrong JSON type', () => {
  it('is refused with what to send instead when the value itself is right', () => {
    expect(encoder.encode(ok, 'payload').row).toEqual([12.5, 40n, 2, 'basic', true]);
    expect(refusal({ amount: '12.5' })).toBe('payload.amount: expected a number or null, got string: the string "12.5"; send it as a JSON number (12.5), without quotes');
    expect(refusal({ amount: '  ' })).toBe('payload.amount: expected a number or null, got string: send null (or leave the field out) for a missing value');
    expect(refusal({ age: '40' })).toBe('payload.age: expected an integer, got string: the string "40"; send it as a JSON number (40), without quotes');
    expect(refusal({ items: '2' })).toBe('payload.items: expected an integer, got string: the string "2"; send it as a JSON number (2), without quotes');
    expect(refusal({ plan: 7 })).toBe('payload.plan: expected a string, got 7: send it as a JSON string ("7")');
    expect(refusal({ plan: false })).toBe('payload.plan: expected a string, got boolean: send it as a JSON string ("false")');
    expect(refusal({ active: 'True' })).toBe('payload.active: expected true or false, got string: the string "True"; send it as JSON true, without quotes');
    expect(refusal({ active: 0 })).toBe('payload.active: expected true or false, got 0: send it as JSON false');
  });

  it('names a value that is wrong whatever its type, without a hint to send it otherwise', () => {
    expect(refusal({ amount: 'twelve' })).toBe('payload.amount: expected a number or null, got string: the string "twelve"');
    expect(refusal({ age: '' })).toBe('payload.age: expected an integer, got string');
    expect(refusal({ age: 40.5 })).toBe('payload.age: expected an integer, got 40.5');
    expect(refusal({ items: 3e9 })).toBe('payload.items: expected a 32-bit integer, got 3000000000');
    expect(refusal({ plan: { a: 1 } })).toBe('payload.plan: expected a string, got object');
    expect(refusal({ active: 'yes' })).toBe('payload.active: expected true or false, got string');
    expect(refusal({ amount: 'x'.repeat(60) })).toBe(`payload.amount: expected a number or null, got string: the string "${'x'.repeat(40)}…"`);
  });
});
