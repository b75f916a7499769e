import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { delimiterOf, streamDelimiter, withoutSepLine } from './csv-delimiter.js';

describe('delimiterOf', () => {
  it('reads commas whenever the header has one, else the most frequent of semicolon, tab and bar', () => {
    expect(delimiterOf('a,b,c\n1;2;3\n')).toBe(',');
    expect(delimiterOf('a;b;c\n1,5;2;3\n')).toBe(';');
    expect(delimiterOf('a\tb\tc\r\n1\t2\t3')).toBe('\t');
    expect(delimiterOf('a|b|c')).toBe('|');
    // A comma inside a quoted name is not a delimiter; a newline inside quotes does not end the header.
    expect(delimiterOf('"price, EUR";"colour\nof car";year\n')).toBe(';');
    expect(delimiterOf('"a;b",c\n')).toBe(',');
    // One column: commas, as before.
    expect(delimiterOf('label\n1\n')).toBe(',');
  });
});

describe("Excel's sep= first line", () => {
  it('names the delimiter, with or without a byte-order mark, whatever the header holds', () => {
    expect(delimiterOf('sep=;\r\na,b;c\n')).toBe(';');
    expect(delimiterOf('\uFEFFsep=|\na|b\n')).toBe('|');
    expect(delimiterOf('sep=,\na;b\n')).toBe(',');
    // Only as the whole first line.
    expect(delimiterOf('sep=;x,y\n')).toBe(',');
    expect(delimiterOf('a;b;sep=|\n')).toBe(';');
  });

  const through = async (chunks: string[]) => {
    const t = withoutSepLine();
    const out = await text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(t));
    return { out, dropped: t.dropped };
  };

  it('is taken out of the stream, however the bytes are split; any other start passes unchanged', async () => {
    const file = '\uFEFFsep=;\r\na;b\r\n1;2\r\n';
    for (const size of [1, 2, 5, 1000]) {
      const chunks = file.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      expect(await through(chunks), `chunks of ${size}`).toEqual({ out: 'a;b\r\n1;2\r\n', dropped: true });
    }
    expect(await through(['sep=\t\n'])).toEqual({ out: '', dropped: true });
    for (const other of ['a;b\n1;2\n', 'sep', 'sep=;', 'sepal_length,width\n1,2\n', '"sep=;"\na\n', '']) expect(await through([other]), other).toEqual({ out: other, dropped: false });
  });
});

describe('streamDelimiter', () => {
  it('decides from the first line and still yields every byte, for a stream in many chunks and for one that ends before a newline', async () => {
    const body = 'a;b\n' + Array.from({ length: 5000 }, (_, i) => `${i};${i * 2}`).join('\n');
    const chunks = body.match(/[\s\S]{1,7}/g)!;
    const many = await streamDelimiter(Readable.from(chunks.map((c) => Buffer.from(c))));
    expect(many.delimiter).toBe(';');
    expect(await text(many.input)).toBe(body);
    const short = await streamDelimiter(Readable.from([Buffer.from('x\ty')]));
    expect(short.delimiter).toBe('\t');
    expect(await text(short.input)).toBe('x\ty');
    const empty = await streamDelimiter(Readable.from([]));
    expect(empty.delimiter).toBe(',');
    expect(await text(empty.input)).toBe('');
  });
});

describe('cellNumber and numberText', () => {
  it('read a decimal comma only in a file not separated by commas, with thousands points where they cannot be decimals', async () => {
    const { cellNumber, numberText } = await import('./csv-cell.js');
    expect(cellNumber('105,29', true)).toBe(105.29);
    expect(cellNumber(' -0,5 ', true)).toBe(-0.5);
    expect(cellNumber(',5', true)).toBe(0.5);
    expect(cellNumber('1,5e3', true)).toBe(1500);
    expect(cellNumber('105,29', false)).toBeUndefined();
    // Spreadsheets write a cell formatted with thousands separators so; a lone group may be a decimal point.
    expect(cellNumber('1.234,56', true)).toBe(1234.56);
    expect(cellNumber('-12.345.678,9', true)).toBe(-12345678.9);
    expect(cellNumber('1.234.567', true)).toBe(1234567);
    expect(cellNumber('1.234', true)).toBe(1.234);
    for (const t of ['1.23,4', '12.34.567', '1.234,56,7', '1.2345,6', '.234,5']) expect(cellNumber(t, true), t).toBeUndefined();
    expect(numberText('1.234,56', false)).toBe('1.234,56');
    expect(cellNumber('1.234.567', false)).toBeUndefined();
    expect(cellNumber('1,2,3', true)).toBeUndefined();
    expect(cellNumber('105.29', true)).toBe(105.29);
    expect(cellNumber('Infinity', true)).toBeUndefined();
    expect(numberText('21,5', true)).toBe('21.5');
    expect(numberText('Kept, late', true)).toBe('Kept, late');
  });

  it('read thousands commas in a comma-separated file (quoted cells), and in the others only before a decimal point', async () => {
    const { cellNumber, typedCell } = await import('./csv-cell.js');
    expect(cellNumber('1,889.50', false)).toBe(1889.5);
    expect(cellNumber('-12,345', false)).toBe(-12345);
    expect(cellNumber('1,234,567.125', false)).toBe(1234567.125);
    expect(typedCell('"ignored"', 'float', false)).toBe('"ignored"');
    expect(typedCell('2,500', 'int64', false)).toBe(2500);
    // Not thousands groups: left as text, which a numeric column reads as not a number.
    for (const t of ['1,23', '12,3456', '1,234,56', ',123', '1,,234', '1,234.', '1.234,567', '1,234e3']) expect(cellNumber(t, false), t).toBeUndefined();
    // A semicolon file: 1,889.50 has a decimal point after its comma, so the comma groups thousands;
    // 1,889 alone is a decimal comma there, as before.
    expect(cellNumber('1,889.50', true)).toBe(1889.5);
    expect(cellNumber('1,889', true)).toBe(1.889);
  });
});

describe('notNumbersNote', () => {
  it('names each column with its first such value; a warning when a column is mostly such values', async () => {
    const { csvPayloadReader, notNumbersNote } = await import('./csv-cell.js');
    const reader = csvPayloadReader(
      [
        { name: 'price', type: 'float' },
        { name: 'age', type: 'float' },
        { name: 'city', type: 'string' },
      ],
      { cell_reading: 'train', missing_category: '' },
      false,
    );
    const rows = [
      { price: '$10.50', age: '41', city: 'Lyon' },
      { price: '$7', age: 'unknown', city: '12' },
      { price: '9', age: '38', city: 'Nice' },
    ];
    expect(rows.map((r) => reader.read(r))).toEqual([
      { price: null, age: 41, city: 'Lyon' },
      { price: null, age: null, city: '12' },
      { price: 9, age: 38, city: 'Nice' },
    ]);
    expect(reader.notNumbers).toEqual({ price: 2, age: 1 });
    expect(reader.examples).toEqual({ price: '$10.50', age: 'unknown' });
    expect(notNumbersNote(reader.notNumbers, reader.examples, 3)).toBe(
      'warning: values that are not numbers read as missing, as train read them: 2 in price (such as "$10.50"), 1 in age (such as "unknown"); most values of price are so, each read as unknown: write the numbers alone (no currency sign or unit) in the file',
    );
    // Half is not most; without the row count, a note.
    expect(notNumbersNote({ price: 2 }, {}, 4)).toBe('note: values that are not numbers read as missing, as train read them: 2 in price');
    expect(notNumbersNote({ price: 1234 })).toBe('note: values that are not numbers read as missing, as train read them: 1,234 in price');
    expect(notNumbersNote({})).toBeUndefined();
  });
});
