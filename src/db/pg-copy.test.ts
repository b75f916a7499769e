import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, randomId } from '../../test/helpers/db.js';
import { PipelinedCopy } from './pg-copy.js';

describe('PipelinedCopy on PostgreSQL', () => {
  const schema = randomId('copy');
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  beforeAll(async () => {
    await client.connect();
    await client.query(`create schema ${schema}; create table t (id int primary key, name text not null, n double precision)`);
  });
  afterAll(async () => {
    await client.query(`drop schema ${schema} cascade`);
    await client.end();
  });

  const count = async () => Number((await client.query('select count(*) as n from t')).rows[0].n);

  it('copies every row and reports how many', async () => {
    const n = await client.query(new PipelinedCopy('copy t (id, name, n) from stdin', '1\tone\t1.5\n2\tzwei ü\t\\N\n3\t\\\\back\\tslash\t-2\n')).done;
    expect(n).toBe(3);
    const rows = (await client.query('select id, name, n from t order by id')).rows;
    expect(rows).toEqual([
      { id: 1, name: 'one', n: 1.5 },
      { id: 2, name: 'zwei ü', n: null },
      { id: 3, name: '\\back\tslash', n: -2 },
    ]);
  });

  it('a failing COPY writes nothing, says why, and leaves the connection usable', async () => {
    // Row 2 repeats id 1: the whole COPY is refused, the rows sent ahead of the error are
    // ignored by the server, and the next query on the same connection gets its own answer.
    const before = await count();
    await expect(client.query(new PipelinedCopy('copy t (id, name, n) from stdin', '10\tok\t1\n1\tduplicate\t2\n11\tafter\t3\n')).done).rejects.toThrow(/duplicate key/);
    expect(await count()).toBe(before);
    await expect(client.query(new PipelinedCopy('copy t (id, name, n) from stdin', '12\tnot a number\tabc\n')).done).rejects.toThrow(/invalid input syntax/);
    expect((await client.query('select 41 + 1 as x')).rows).toEqual([{ x: 42 }]);
    expect(await client.query(new PipelinedCopy('copy t (id, name, n) from stdin', '20\tafter the errors\t0\n')).done).toBe(1);
    expect(await count()).toBe(before + 1);
  });

  it('calls its callback once as it settles, so pg can clear a query_timeout timer', async () => {
    // pg replaces a submittable's callback with one that clears its read-timeout timer.
    const calls: (Error | undefined)[] = [];
    const ok = new PipelinedCopy('copy t (id, name, n) from stdin', '30\tcallback\t1\n');
    ok.callback = (err) => calls.push(err);
    await client.query(ok).done;
    const bad = new PipelinedCopy('copy t (id, name, n) from stdin', '30\tagain\t1\n');
    bad.callback = (err) => calls.push(err);
    await expect(client.query(bad).done).rejects.toThrow(/duplicate key/);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toBeUndefined();
    expect(calls[1]?.message).toMatch(/duplicate key/);
  });

  it('copies a batch far larger than a socket buffer in one go', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`${1000 + i}\t${'x'.repeat(100)}-${i}\t${i / 7}`);
    const n = await client.query(new PipelinedCopy('copy t (id, name, n) from stdin', `${lines.join('\n')}\n`)).done;
    expect(n).toBe(50_000);
    const r = (await client.query('select count(*)::int as n, sum(id)::bigint as s from t where id >= 1000')).rows[0];
    expect(r.n).toBe(50_000);
    expect(Number(r.s)).toBe(50_000 * 1000 + (49_999 * 50_000) / 2);
  });
});
