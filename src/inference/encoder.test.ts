import { describe, expect, it } from 'vitest';
import type { Contract } from './contract.js';
import { createEncoder } from './encoder.js';
import type { AppError } from '../lib/errors.js';

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
const refused = (change: Record<string, unknown>): AppError => {
  try {
    encoder.encode({ ...ok, ...change }, 'payload');
  } catch (e) {
    return e as AppError;
  }
  throw new Error('accepted');
};
const refusal = (change: Record<string, unknown>) => refused(change).message;

describe('a value of the wrong JSON type', () => {
  it('is refused with what to send instead when the value itself is right', () => {
    expect(encoder.encode(ok, 'payload').row).toEqual([12.5, 40n, 2, 'basic', true]);
    expect(refusal({ amount: '12.5' })).toBe('payload.amount: expected a number or null, got string: the string "12.5"; send it as a JSON number (12.5), without quotes');
    expect(refusal({ amount: '  ' })).toBe('payload.amount: expected a number or null, got string: send null for a missing value');
    // A CSV's missing-value words, sent as read (the trainer read them as missing in its file).
    expect(refusal({ amount: 'NA' })).toBe('payload.amount: expected a number or null, got string: the string "NA"; send null for a missing value');
    expect(refusal({ amount: ' ? ' })).toBe('payload.amount: expected a number or null, got string: the string " ? "; send null for a missing value');
    // An integer feature has no missing value: the word is named, with no hint to send null.
    expect(refusal({ age: 'NULL' })).toBe('payload.age: expected an integer, got string: the string "NULL"');
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
    expect(refusal({ amount: 'x'.repeat(60) })).toBe(`payload.amount: expected a number or null, got string: the string "${'x'.repeat(40)}"… (60 characters)`);
  });

  it('is logged without the value sent: the type and the fix only', () => {
    const logged = (change: Record<string, unknown>) => refused(change).logMessage;
    expect(logged({ amount: '12.5' })).toBe('payload.amount: expected a number or null, got string: one that reads as a number; send it as a JSON number, without quotes');
    expect(logged({ amount: '' })).toBe('payload.amount: expected a number or null, got string: an empty one; send null for a missing value');
    expect(logged({ amount: 'NA' })).toBe('payload.amount: expected a number or null, got string: a missing-value word; send null for a missing value');
    expect(logged({ amount: 'twelve' })).toBe('payload.amount: expected a number or null, got string');
    expect(logged({ age: 40.5 })).toBe('payload.age: expected an integer, got number');
    expect(logged({ plan: 7 })).toBe('payload.plan: expected a string, got number: send it as a JSON string');
    expect(logged({ active: 'True' })).toBe('payload.active: expected true or false, got string: send it as JSON true or false, without quotes');
    expect(logged({ active: 1 })).toBe('payload.active: expected true or false, got number: send it as JSON true or false');
  });

  it('a category a strict encoder refuses is named in the reply, not in the log', () => {
    const strict = createEncoder({ ...contract, features: [{ name: 'plan', type: 'string', input: 'plan', categories: ['basic', 'plus'], categories_only: true }] } as Contract);
    let e: AppError | undefined;
    try {
      strict.encode({ plan: 'PLATINUM-secret' }, 'payload');
    } catch (err) {
      e = err as AppError;
    }
    expect(e?.message).toBe('payload.plan: "PLATINUM-secret" is not a category this model version knows (its one-hot encoder refuses others); send one of "basic", "plus"');
    expect(e?.logMessage).toBe('payload.plan: not a category this model version knows (its one-hot encoder refuses others)');
  });
});

describe('a row with several fields refused', () => {
  it('names every one: the first in full, the others by what was expected, each in details.errors', () => {
    // A client that reads a CSV quotes every number: one 400 per field had it fix them one by one.
    const e = refused({ amount: '12.5', age: '40', active: 1, plan: 7 });
    expect(e.message).toBe(
      'payload.amount: expected a number or null, got string: the string "12.5"; send it as a JSON number (12.5), without quotes; ' +
        '3 more fields refused: payload.age (expected an integer, got string), payload.plan (expected a string, got number), ' +
        "payload.active (expected true or false, got number) (details.errors has each one's message)",
    );
    expect(e.details?.field).toBe('payload.amount');
    const errors = e.details?.errors as { field: string; message: string }[];
    expect(errors.map((x) => x.field)).toEqual(['payload.amount', 'payload.age', 'payload.plan', 'payload.active']);
    expect(errors[1].message).toBe('payload.age: expected an integer, got string: the string "40"; send it as a JSON number (40), without quotes');
    expect(errors[2].message).toBe('payload.plan: expected a string, got 7: send it as a JSON string ("7")');
    // The log line names the fields and types, never a value sent.
    expect(e.logMessage).not.toMatch(/12\\.5|"40"|got 7/);
    expect(e.logMessage).toContain('3 more fields refused: payload.age (expected an integer, got string)');
  });

  it('past six, counts the rest; a missing integer is named with why', () => {
    const wide = createEncoder({
      contract_version: 1,
      layout: 'columns',
      features: Array.from({ length: 9 }, (_, i) => ({ name: `x${i}`, type: i === 8 ? 'int64' : 'float', input: `x${i}` })),
    } as Contract);
    let e: AppError | undefined;
    try {
      wide.encode(Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x${i}`, String(i)])), 'instances[2]');
    } catch (err) {
      e = err as AppError;
    }
    expect(e?.message).toMatch(
      /^instances\[2\]\.x0: expected a number or null, got string: the string "0"; send it as a JSON number \(0\), without quotes; 8 more fields refused: instances\[2\]\.x1 \(expected a number or null, got string\), /,
    );
    expect(e?.message).toContain('instances[2].x5 (expected a number or null, got string), and 3 more (details.errors');
    expect((e?.details?.errors as unknown[]).length).toBe(9);
    expect((e?.details?.errors as { message: string }[])[8].message).toBe('instances[2].x8: missing required feature (an integer)');
  });

  it('one field refused keeps its message as it was', () => {
    const e = refused({ age: '40' });
    expect(e.message).toBe('payload.age: expected an integer, got string: the string "40"; send it as a JSON number (40), without quotes');
    expect(e.details?.errors).toBeUndefined();
  });
});
