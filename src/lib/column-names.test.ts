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

  it('names the column meant when a name carries spaces or a line end (a client that read a CRLF header)', () => {
    const features = ['CreditScore', 'Exited'];
    expect(caseHint(features, ['Exited\r'])).toBe(' (did you mean "Exited"? names must match exactly, with no spaces or line-end characters around them)');
    expect(caseHint(features, [' creditscore '])).toBe(' (did you mean "CreditScore"? names must match exactly, with no spaces or line-end characters around them)');
    // The other way round: a CSV header with a space, a flag without.
    expect(caseHint([' tenure', 'Churn'], ['tenure'])).toBe(' (did you mean " tenure"? names must match exactly, with no spaces or line-end characters around them)');
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
