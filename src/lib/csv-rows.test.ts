import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvRows, type CsvRow } from './csv-rows.js';

const read = async (text: string, used: string[] = [], o: { trim?: boolean; name?: (h: string) => string } = {}) => {
  const rows: CsvRow[] = [];
  let header: string[] = [];
  const onHeader = (h: string[]) => {
    header = h;
    return used;
  };
  for await (const r of csvRows(Readable.from([text]), { delimiter: ',', source: 'f.csv', onHeader, ...o })) rows.push(r);
  return { header, rows };
};

describe('csvRows', () => {
  it('keys each row by the header as written, after a byte-order mark, and numbers the rows from 1', async () => {
    // A graph input may be named with a space (a pandas column " a"): the header is not trimmed.
    const { header, rows } = await read('\uFEFF a ,b\r\n1,x\r\n\r\n2,"y, z"\r\n');
    expect(header).toEqual([' a ', 'b']);
    expect(rows.map((r) => [r.row, { ...r.values }])).toEqual([
      [1, { ' a ': '1', b: 'x' }],
      [2, { ' a ': '2', b: 'y, z' }],
    ]);
    expect((await read('A,b\n1,2\n', [], { name: (h) => h.toLowerCase() })).header).toEqual(['a', 'b']);
  });

  it('gives a row with more or fewer fields than the header the reason instead of values read one column off', async () => {
    const { rows } = await read('a,b,c\n1,2,3\n1,2,345,6\n1,2\n4,5,6\n7,8,9,\n');
    expect(rows.map((r) => r.row)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[4]).toMatchObject({ misaligned: "more fields than the header's 3, the extra ones empty: a comma at the end of the row, or a comma in a field that is not quoted" });
    expect(rows[1]).toMatchObject({ misaligned: "more fields than the header's 3: a comma in a field that is not quoted, such as a number written 1,234" });
    expect(Object.keys(rows[1].values)).toEqual([]);
    expect(rows[2]).toMatchObject({ misaligned: "fewer fields than the header's 3: the row is cut short" });
    expect(rows[3]).toMatchObject({ values: { a: '4', b: '5', c: '6' } });
    expect(rows[3].misaligned).toBeUndefined();
  });

  it('refuses a header naming a column it reads twice, and allows one it does not read', async () => {
    await expect(read('a,b,a\n1,2,3\n', ['a'])).rejects.toThrow('f.csv: the header names column "a" twice; remove or rename one of them');
    const { rows } = await read('a,b,b\n1,2,3\n', ['a']);
    expect(rows[0].values.a).toBe('1');
  });

  it('keeps a column named __proto__ as a plain value', async () => {
    const { rows } = await read('__proto__,constructor\n1,2\n', ['__proto__']);
    expect(Object.hasOwn(rows[0].values, '__proto__')).toBe(true);
    expect(rows[0].values.__proto__).toBe('1');
    expect(rows[0].values.constructor).toBe('2');
  });

  it('says where a file stops being CSV, as a usage error', async () => {
    await expect(read('a,b\n1,2\n3,"open\n')).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^f\.csv: not readable as CSV: Quote Not Closed: .* at line 3$/) });
  });

  it('stops reading the input when the caller stops early', async () => {
    const input = Readable.from(
      (function* () {
        yield 'a,b\n';
        for (let i = 0; i < 100_000; i++) yield `${i},${i}\n`;
      })(),
    );
    let seen = 0;
    for await (const r of csvRows(input, { delimiter: ',', source: 'f.csv', onHeader: () => [] })) {
      seen = r.row;
      if (r.row === 3) break;
    }
    expect(seen).toBe(3);
    expect(input.destroyed).toBe(true);
  });
});
