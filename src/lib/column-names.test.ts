import { describe, expect, it } from 'vitest';
import { assertFeatureColumns, caseHint } from './column-names.js';

describe('caseHint', () => {
  it('names the columns that differ only in case, and nothing for a name with no such column', () => {
    const header = ['customerID', 'Churn', 'tenure'];
    expect(caseHint(header, ['churn'])).toBe(' (did you mean Churn? names are case-sensitive)');
    expect(caseHint(header, ['customerid', 'TENURE'])).toBe(' (did you mean customerID, tenure? names are case-sensitive)');
    expect(caseHint(header, ['nope'])).toBe('');
    expect(caseHint(header, ['Churn'])).toBe('');
  });
});

describe('assertFeatureColumns', () => {
  it('names every absent feature, with the column meant when only the case differs', () => {
    expect(() => assertFeatureColumns('rows.csv', ['tenure', 'Charges'], ['tenure', 'Charges'])).not.toThrow();
    expect(() => assertFeatureColumns('rows.csv', ['Tenure', 'Charges'], ['tenure', 'Contract', 'Charges'])).toThrow(
      'rows.csv: no column for features tenure, Contract (did you mean Tenure? names are case-sensitive); the CSV needs a header naming every model feature',
    );
    // Object members are not columns.
    expect(() => assertFeatureColumns('rows.csv', ['a'], ['toString'])).toThrow('rows.csv: no column for feature toString; the CSV needs');
  });
});
