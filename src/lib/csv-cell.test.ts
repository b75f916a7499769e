import { describe, expect, it } from 'vitest';
import { cellNumber, numberText } from './csv-cell.js';

describe('numbers in CSV cells of files not separated by commas', () => {
  it('a decimal comma, with or without thousands points, and whole numbers with two or more groups of thousands', () => {
    const read = (t: string) => cellNumber(t, true);
    expect(read('105,29')).toBe(105.29);
    expect(read('-0,5')).toBe(-0.5);
    expect(read(',5')).toBe(0.5);
    expect(read('1.234,56')).toBe(1234.56);
    expect(read('-12.345.678,9')).toBe(-12345678.9);
    expect(read('1.234.567')).toBe(1234567);
    expect(read('1,5e3')).toBe(1500);
    // Points a spreadsheet would not write as thousands marks are left as they are.
    expect(read('1.5')).toBe(1.5);
    expect(read('1.234')).toBe(1.234);
    for (const t of ['1.23,4', '12.34.567', '1.234,56,7', '1.2345,6', '.234,5']) expect(read(t), t).toBeUndefined();
  });

  it('a comma-separated file reads only points as decimals', () => {
    expect(numberText('1.234,56', false)).toBe('1.234,56');
    expect(cellNumber('1.234.567', false)).toBeUndefined();
    expect(cellNumber('105.29', false)).toBe(105.29);
  });
});
