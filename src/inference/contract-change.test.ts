import { describe, expect, it } from 'vitest';
import type { Contract, Feature } from './contract.js';
import { contractChange, describeContractChange } from './contract-change.js';

const f = (name: string, type: Feature['type']): Feature => ({ name, type, input: name });
const contract = (features: Feature[], missing_category?: string): Contract => ({ contract_version: 1, layout: 'columns', features, ...(missing_category !== undefined ? { missing_category } : {}) });
const v1 = contract([f('lead_time', 'float'), f('hotel', 'string'), f('adults', 'int64')]);
const said = (to: Contract) => {
  const c = contractChange(to, v1);
  return c && describeContractChange(c, 'version 1');
};

describe('what requests made for one version meet in another', () => {
  it('nothing, when every input is still taken as the same kind of value (fewer inputs, another number type)', () => {
    expect(contractChange(v1, v1)).toBeUndefined();
    expect(contractChange(contract([f('lead_time', 'double'), f('adults', 'int32')]), v1)).toBeUndefined();
  });

  it('numbers it adds are scored as missing values; integers, booleans and strings without a missing category are refused', () => {
    expect(said(contract([...v1.features, f('adr', 'float')]))).toBe('takes a feature version 1 did not (adr): requests made for version 1 are scored with it as a missing value');
    expect(said(contract([...v1.features, f('adr', 'float'), f('babies', 'double')]))).toBe(
      'takes 2 features version 1 did not (adr, babies): requests made for version 1 are scored with them as missing values',
    );
    expect(said(contract([...v1.features, f('adr', 'float'), f('country', 'string'), f('repeated', 'bool')]))).toBe(
      'takes 3 features version 1 did not (adr, country, repeated): requests made for version 1 are refused (400) without country, repeated',
    );
    // With a missing category, a missing string is scored too.
    expect(said(contract([...v1.features, f('country', 'string')], 'missing'))).toBe('takes a feature version 1 did not (country): requests made for version 1 are scored with it as a missing value');
    expect(contractChange(contract([...v1.features, f('babies', 'int64')]), v1)).toMatchObject({ added: ['babies'], refusedWhenMissing: ['babies'] });
  });

  it('a version that shares no input, and inputs taken as another kind of value', () => {
    expect(said(contract([f('a', 'string'), f('b', 'string')]))).toBe("takes none of version 1's features (its 2: a, b): requests made for version 1 are refused (400) without them");
    expect(said(contract([f('lead_time', 'string'), f('hotel', 'string'), f('adults', 'bool')]))).toBe(
      'takes lead_time as a string (version 1: a number), adults as a boolean (version 1: a number): requests made for version 1 are refused (400)',
    );
    expect(said(contract([f('lead_time', 'string'), f('x', 'float'), f('y', 'float'), f('z', 'float'), f('w', 'float'), f('v', 'float'), f('u', 'float')]))).toBe(
      'takes 6 features version 1 did not (x, y, z, w, v and 1 more): requests made for version 1 are scored with them as missing values; it takes lead_time as a string (version 1: a number): requests made for version 1 are refused (400)',
    );
  });
});
