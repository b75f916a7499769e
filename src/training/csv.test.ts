import { closeSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { ingestCsv } from './csv.js';

const dir = tempDir('modelgate-csv-');
let n = 0;
const file = (text: string | Buffer) => {
  const f = path.join(dir, `t${n++}.csv`);
  writeFileSync(f, text);
  return f;
};

describe('CSV ingest', () => {
  it('types columns, reads missing values in every usual spelling, and maps yes/no targets', async () => {
    const rows = ['id,age,plan,score,notes,const,empty,churn'];
    for (let i = 0; i < 40; i++) {
      const age = i % 10 === 0 ? ['', 'NA', 'NULL', '?'][i % 4] : String(20 + i);
      // 1 of 40 scores is not a number: still numeric (≥ 95 %), that value becomes missing.
      const score = i === 7 ? 'high' : (i * 1.5).toFixed(1);
      rows.push([`cust-${i}`, age, i % 3 ? 'basic' : '"pro, annual"', score, i % 2 ? 'x' : 'y', 'same', '', i % 4 ? 'No' : 'Yes'].join(','));
    }
    const r = await ingestCsv(file(rows.join('\n')), { target: 'churn' });
    expect(r.data.rows).toBe(40);
    expect(Object.keys(r.data.numeric)).toEqual(['age', 'score']);
    expect(Object.keys(r.data.categorical)).toEqual(['plan', 'notes']);
    expect(r.data.categorical.plan[0]).toBe('pro, annual');
    expect(Number.isNaN(r.data.numeric.age[0])).toBe(true);
    expect(Number.isNaN(r.data.numeric.score[7])).toBe(true);
    expect(r.data.numeric.age[1]).toBe(21);
    expect(Array.from(r.data.label.slice(0, 5))).toEqual([1, 0, 0, 0, 1]);
    const role = Object.fromEntries(r.columns.map((c) => [c.name, c.role]));
    expect(role).toEqual({ id: 'excluded', age: 'numeric', plan: 'categorical', score: 'numeric', notes: 'categorical', const: 'excluded', empty: 'excluded', churn: 'target' });
    expect(r.warnings.join('\n')).toMatch(/id: a different value in every row/);
    expect(r.warnings.join('\n')).toMatch(/const: the same value in every row/);
    expect(r.warnings.join('\n')).toMatch(/empty: every value is missing/);
    expect(r.warnings.join('\n')).toMatch(/score: 1 value that is not a number is treated as missing/);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The same target as a float column writes it (pandas, with a gap in it): 1.0, 0.0, blank.
    const floats = await ingestCsv(file(['x,churn', ...Array.from({ length: 40 }, (_, i) => `${i},${i === 5 ? '' : i % 4 ? '0.0' : '1.0'}`)].join('\n')), { target: 'churn' });
    expect(floats.task).toBe('binary');
    expect(floats.droppedNoLabel).toBe(1);
    expect(Array.from(floats.data.label.slice(0, 5))).toEqual([1, 0, 0, 0, 1]);
    // Other numbers are not bits.
    await expect(ingestCsv(file(['x,churn', ...Array.from({ length: 40 }, (_, i) => `${i},${i % 2 ? '0.5' : '1.0'}`)].join('\n')), { target: 'churn' })).rejects.toThrow(
      /are not 0\/1, yes\/no or true\/false/,
    );
  });

  it('drops rows without a label before anything else, and keeps a continuous measurement that happens to be unique', async () => {
    const rows = ['x,salary,y'];
    for (let i = 0; i < 30; i++) rows.push(`${i % 5},${(1000 + i * 3.7).toFixed(2)},${i === 3 ? '' : i % 2}`);
    const progress: string[] = [];
    const r = await ingestCsv(file(rows.join('\n')), { target: 'y', onProgress: (line) => progress.push(line) });
    expect(r).toMatchObject({ rowsRead: 30, droppedNoLabel: 1 });
    expect(progress.join('\n')).toContain('29 rows: 2 numeric, 0 categorical columns; 1 row without a label dropped');
    expect(r.data.rows).toBe(29);
    expect(Object.keys(r.data.numeric)).toEqual(['x', 'salary']);
    expect(r.data.numeric.x[3]).toBe(4); // row 4 of the file is row 3 once the unlabelled row is gone
  });

  it('leaves out text columns that look like names (many distinct values, repeats allowed), with --include to keep one', async () => {
    // Like bank_churn's Surname: 2,900 distinct in 10,000 rows, so not unique, but no category either.
    const surnames = Array.from({ length: 290 }, (_, i) => `Name${(i * 7919) % 1009}`);
    const rows = ['Surname,Geography,Age,Exited'];
    for (let i = 0; i < 1000; i++) rows.push([surnames[i % 290], ['France', 'Spain', 'Germany'][i % 3], 20 + (i % 50), i % 4 ? 0 : 1].join(','));
    const csv = file(rows.join('\n'));
    const r = await ingestCsv(csv, { target: 'Exited' });
    expect(r.columns.find((c) => c.name === 'Surname')).toMatchObject({ role: 'excluded', distinct: 290 });
    expect(r.warnings.join('\n')).toMatch(/Surname: 290 distinct values in 1000 rows: looks like names or identifiers.*use --include Surname to keep it/);
    expect(Object.keys(r.data.categorical)).toEqual(['Geography']);
    const kept = await ingestCsv(csv, { target: 'Exited', include: ['Surname'] });
    expect(kept.columns.find((c) => c.name === 'Surname')?.role).toBe('categorical');
    // More than 1,000 distinct values is name-like whatever the share.
    const big = ['ref,y'];
    for (let i = 0; i < 6000; i++) big.push(`R${i % 1500},${i % 2}`);
    expect((await ingestCsv(file(big.join('\n')), { target: 'y' })).columns[0]).toMatchObject({ role: 'excluded', note: expect.stringMatching(/more than 1000 distinct values/) });
  });

  it('says when a column is numbers written with a currency sign or unit, which it cannot read as numbers', async () => {
    // 1,200 rows: price "$12.34" (a different one in every row, so no identifier either: left out
    // as too many texts), tenure "3 months" (60 texts: categories), share "7%" with a few plain
    // numbers, code "A1"…"A9" (a letter before a number: a code, not a currency).
    const rows = ['price,tenure,share,code,y'];
    for (let i = 0; i < 1200; i++) rows.push(`"$${(i + 1).toLocaleString('en-US')}.${String(i % 100).padStart(2, '0')}",${i % 60} months,${i % 50 === 0 ? i % 7 : `${i % 7}%`},A${i % 9},${i % 2}`);
    const r = await ingestCsv(file(rows.join('\n')), { target: 'y' });
    const byName = Object.fromEntries(r.columns.map((c) => [c.name, c]));
    expect(byName.price).toMatchObject({
      role: 'excluded',
      note: 'values such as "$1.00" are numbers written with "$" around them, which is text to a CSV reader, so the column is not numeric; write the numbers alone (and send them so) to train on them as numbers; as more than 1000 distinct texts it is left out (as names would be), use --include price to keep it',
    });
    expect(byName.tenure).toMatchObject({
      role: 'categorical',
      note: expect.stringMatching(/^values such as "0 months" are numbers written with "months" around them, .*; trained as 60 categories$/),
    });
    expect(byName.share).toMatchObject({ role: 'categorical', note: expect.stringMatching(/^values such as "1%" are numbers written with "%" around them/) });
    expect(byName.code).toEqual({ name: 'code', role: 'categorical', missing: 0, distinct: 9 });
    expect(r.warnings.filter((w) => /around them/.test(w)).map((w) => w.split(':')[0])).toEqual(['price', 'tenure', 'share']);
    // Told it is categorical, it is that, without the note.
    const asked = await ingestCsv(file(rows.join('\n')), { target: 'y', categorical: ['tenure'] });
    expect(asked.columns.find((c) => c.name === 'tenure')).toEqual({ name: 'tenure', role: 'categorical', missing: 0, distinct: 60 });
  });

  it('says when a column is dates, which train as categories of days new rows will not repeat', async () => {
    // The hotel file's reservation_status_date ("7/1/2015"): before, 663 categories without a word.
    const rows = ['booked,stamp,when,y'];
    // 4,000 rows over 600 days (15 %: not name-like); a timestamp unique to each row.
    for (let i = 0; i < 4000; i++) {
      const d = new Date(Date.UTC(2015, 0, 1) + (i % 600) * 86_400_000);
      const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
      const stamp = new Date(Date.UTC(2015, 0, 1) + i * 1000).toISOString();
      rows.push(`${m}/${day}/${y},${stamp},${i % 30 === 0 ? 'NA' : `${y}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`},${i % 2}`);
    }
    const r = await ingestCsv(file(rows.join('\n')), { target: 'y' });
    const byName = Object.fromEntries(r.columns.map((c) => [c.name, c]));
    expect(byName.booked).toMatchObject({ role: 'categorical', note: expect.stringMatching(/^values such as "1\/1\/2015" are dates: .*--exclude the column.*; trained as 600 categories$/) });
    // A different timestamp in every row is no identifier either: said as a date.
    expect(byName.stamp).toMatchObject({ role: 'excluded', note: expect.stringMatching(/^values such as "2015-01-01T00:00:00\.000Z" are dates: /) });
    expect(byName.when).toMatchObject({ role: 'categorical', missing: 134, note: expect.stringMatching(/^values such as "2015-01-02" are dates: /) });
    // Told it is categorical, it is that, without the note; a column of codes is no date.
    const asked = await ingestCsv(file(rows.join('\n')), { target: 'y', categorical: ['booked'] });
    expect(asked.columns.find((c) => c.name === 'booked')).toEqual({ name: 'booked', role: 'categorical', missing: 0, distinct: 600 });
    const codes = await ingestCsv(file(['code,y', ...Array.from({ length: 1000 }, (_, i) => `${i % 12}-${i % 5}-A,${i % 2}`)].join('\n')), { target: 'y' });
    expect(codes.columns[0]).toEqual({ name: 'code', role: 'categorical', missing: 0, distinct: 60 });
  });

  it('leaves out columns a request could not send: unnamed ones (pandas row numbers, a trailing comma) and __proto__', async () => {
    // What pandas writes with to_csv() by default: an unnamed first column of row numbers; and a
    // spreadsheet's trailing comma: an unnamed last column, empty. Both in one file, so two
    // unnamed columns are no duplicate.
    const rows = [',age,plan,__proto__,,y'];
    for (let i = 0; i < 40; i++) rows.push(`${i},${20 + (i % 13)},${i % 3 ? 'basic' : 'pro'},${i % 5},,${i % 2}`);
    const r = await ingestCsv(file(rows.join('\n')), { target: 'y' });
    expect(Object.keys(r.data.numeric)).toEqual(['age']);
    expect(Object.keys(r.data.categorical)).toEqual(['plan']);
    expect(r.columns.map((c) => c.role)).toEqual(['excluded', 'numeric', 'categorical', 'excluded', 'excluded', 'target']);
    const warnings = r.warnings.join('\n');
    expect(warnings).toMatch(/^column 1 \(no name in the header\): row numbers \(what pandas writes unless to_csv\(index=False\)\); left out$/m);
    expect(warnings).toMatch(/^column 5 \(no name in the header\): every value is missing; left out$/m);
    expect(warnings).toMatch(/^__proto__: a request cannot send a field of this name .*rename the column/m);
    // An unnamed column of values is no row numbers: still left out, saying how to keep it.
    const named = await ingestCsv(file(['a,,y', ...Array.from({ length: 40 }, (_, i) => `${i % 7},${i % 4},${i % 2}`)].join('\n')), { target: 'y' });
    expect(Object.keys(named.data.numeric)).toEqual(['a']);
    expect(named.warnings.join('\n')).toMatch(/^column 2 \(no name in the header\): left out; name it in the header to train on it$/m);
  });

  it('says why it read a target as classes, and offers regression only for classes that are numbers', async () => {
    const words = await ingestCsv(file(['a,y', ...Array.from({ length: 30 }, (_, i) => `${i},${['France', 'Spain', 'Germany'][i % 3]}`)].join('\n')), { target: 'y' });
    expect(words.taskReason).toBe('y has 3 distinct values: multiclass');
    const ratings = await ingestCsv(file(['a,y', ...Array.from({ length: 30 }, (_, i) => `${i},${(i % 5) + 1}`)].join('\n')), { target: 'y' });
    expect(ratings.taskReason).toBe('y has 5 distinct values: multiclass (--task regression to predict it as a number)');
  });

  it('refuses what cannot be trained on, saying what to do', async () => {
    const bad = async (text: string | Buffer, opts: Partial<Parameters<typeof ingestCsv>[1]> = {}) => {
      try {
        await ingestCsv(file(text), { target: 'y', ...opts });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(await bad('')).toMatch(/is empty/);
    expect(await bad('a,y\n')).toMatch(/has a header but no rows/);
    expect(await bad('a,y\n1,0\n2,1,3\n')).toMatch(/line 3 has 3 fields where the header has 2/);
    expect(await bad('a,b\n1,0\n')).toMatch(/no column "y" for --target; the columns are a, b/);
    expect(await bad('a,y\n1,1\n2,1\n')).toMatch(/every row has the same label/);
    // Three values read as classes (multiclass); asked for binary, they are refused.
    expect(await bad('a,y\n1,0\n2,maybe\n3,2\n', { task: 'binary' })).toMatch(
      /expected 0\/1, yes\/no or true\/false, found "maybe", "2"; pick a binary column or recode it, or train another kind with --task multiclass/,
    );
    expect(await bad('a,y\n1,0\n2,1\n', { exclude: ['nope'] })).toMatch(/no column nope \(from --exclude\/--categorical\/--numeric\); the columns/);
    // A name that differs only in case is named, for the target and the column lists alike.
    expect(await bad('customerID,Churn\nx,0\ny,1\n', { target: 'churn' })).toMatch(
      /no column "churn" for --target \(did you mean Churn\? names are case-sensitive\); the columns are customerID, Churn/,
    );
    expect(await bad('customerID,Churn\nx,0\ny,1\n', { target: 'Churn', exclude: ['customerid'] })).toMatch(/no column customerid .*\(did you mean customerID\? names are case-sensitive\)/);
    expect(await bad(Buffer.concat([Buffer.from('a,y\n'), Buffer.from([0x66, 0xff, 0xfe, 0x2c, 0x31, 0x0a])]))).toMatch(/line 2 is not valid UTF-8/);
    expect(await bad('a,a,y\n1,2,0\n')).toMatch(/names column "a" twice/);
    // Columns that would not fit: refused after the first pass, before anything is allocated.
    expect(await bad('a,b,y\n1,x,0\n2,z,1\n3,x,0\n', { maxColumnBytes: 100 })).toMatch(
      /3 rows x 2 columns need about 0\.00 GB of memory to train on, more than the 0\.00 GB available; train on a sample/,
    );
  });

  it('a 2 GB file: read as a stream, refused early with what to do, memory bounded', async () => {
    const huge = path.join(dir, 'huge.csv');
    const header = 'a,b,c,d,e,f,g,h,i,y\n';
    const row = '1.25,2.5,3,4,5,6,7,8,9,1\n2.75,0.5,3,4,5,6,7,8,9,0\n';
    const chunk = Buffer.from(row.repeat(Math.floor(2 ** 20 / row.length)));
    const fd = openSync(huge, 'w');
    try {
      writeSync(fd, header);
      for (let written = 0; written < 2 * 2 ** 30; written += chunk.length) writeSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const started = Date.now();
      await expect(ingestCsv(huge, { target: 'y' })).rejects.toThrow(
        /about [0-9,]+ rows \(estimated from the file's 2\.00 GB\) x 9 columns need about [0-9.]+ GB of memory to train on, more than the [0-9.]+ GB available \(found after reading the first 5,000 rows\); train on a sample of the rows/,
      );
      // Refused after a few thousand rows, not after reading 2 GB.
      expect(Date.now() - started).toBeLessThan(20_000);
      expect((peak - base) / 2 ** 20).toBeLessThan(200);
    } finally {
      clearInterval(sampler);
      rmSync(huge, { force: true });
    }
  }, 120_000);
});
