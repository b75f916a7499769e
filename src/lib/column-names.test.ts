import { describe, expect, it } from 'vitest';
import { caseHint } from './column-names.js';

describe('caseHint', () => {
  it('names the columns that differ only in case, and nothing for a name with no such column', () => {
    const header = ['customerID', 'Churn', 'tenure'];
    expect(caseHint(header, ['churn'])).toBe(' (did you mean Churn? names are case-sensitive)');
    expect(caseHint(header, ['customerid', 'TENURE'])).toBe(' (did you mean customerID, tenure? names are case-sensitive)');
    expect(caseHint(header, ['nope'])).toBe('');
    expect(caseHint(header, ['Churn'])).toBe('');
  });
});
