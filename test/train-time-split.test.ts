import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { generateHotelBookings, ingestCsv, rowPayload, timeSplit } from '../src/training/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { startTestServer } from './helpers/server.js';

/**
 * train --split time: the latest rows by a time column are held out (out of time), every row of
 * the first held-out moment with them; the column orders the rows and is never a feature. Each
 * file below writes a row's day twice: as the time column (a date) and as a plain feature
 * (`day_copy`), which shows from the outside which rows landed on which side.
 */
describe('train --split time', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  /** 2,000 bookings over 400 days, five a day, in shuffled order: day (i · 7919) mod 400, starting `first`. */
  const write = (name: string, opts: { seed: number; firstDay?: number; when?: (day: number, i: number) => string; copyHalf?: boolean } = { seed: 1 }) => {
    const data = generateHotelBookings(2000, opts.seed);
    const cols = [...Object.keys(data.numeric), ...Object.keys(data.categorical)];
    // copyHalf: the second thousand rows repeat the first thousand exactly, 200 days later (day_copy then says nothing).
    const day = (i: number) => (opts.firstDay ?? 0) + (opts.copyHalf ? (i < 1000 ? 0 : 200) + (i % 200) : (i * 7919) % 400);
    const when = opts.when ?? ((d: number) => new Date(Date.UTC(2024, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
    const rows = Array.from({ length: data.rows }, (_, i) => {
      const src = opts.copyHalf ? i % 1000 : i;
      const p = rowPayload(data, src);
      return [when(day(i), i), ...cols.map((c) => p[c] ?? ''), opts.copyHalf ? 0 : day(i), data.label[src]];
    });
    const file = path.join(dir, name);
    writeFileSync(file, stringify([['booked_on', ...cols, 'day_copy', 'is_canceled'], ...rows]));
    return file;
  };
  /** A version's manifest, read from the registry the CLI wrote. */
  const manifestOf = async (model: string, version: number) => {
    const s = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      return (await s.ctx.registry.getVersion(model, version)).manifest;
    } finally {
      await s.stop();
    }
  };
  const dateOf = (day: number) => new Date(Date.UTC(2024, 0, 1) + day * 86_400_000).toISOString().slice(0, 10);

  it('holds out the latest quarter by the column, whole days, and never trains on the column', async () => {
    const file = write('bookings.csv');
    const ingested = await ingestCsv(file, { target: 'is_canceled', orderBy: 'booked_on' });
    expect(ingested.columns.find((c) => c.name === 'booked_on')).toMatchObject({ role: 'excluded', note: 'orders the rows for the time split; not a feature' });
    expect(Object.keys(ingested.data.categorical)).not.toContain('booked_on');
    const split = timeSplit(ingested.data, ingested.order!, 0.25);
    // Five rows a day: the latest 500 are days 300 to 399, all of them.
    const held = Array.from(split.test.numeric.day_copy);
    const trained = Array.from(split.train.numeric.day_copy);
    expect(held).toHaveLength(500);
    expect(Math.min(...held)).toBe(300);
    expect(Math.max(...trained)).toBe(299);
    expect(new Set(held).size).toBe(100);
    // Each training row's time, in training-row order (GBDT stops early on the latest of them).
    expect(Array.from(split.trainOrder!, (t) => (t - Date.parse(dateOf(0))) / 86_400_000)).toEqual(trained);

    const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'late', '--split', 'time', '--time-column', 'booked_on', '--rounds', '20', '--register', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().run.rows).toEqual({ train: 1500, test: 500 });
    expect(r.json().run.params).toMatchObject({ validation_slice: 'latest' });
    expect(r.json().run.split).toMatchObject({
      kind: 'time',
      test_fraction: 0.25,
      time_column: 'booked_on',
      held_out_from: `${dateOf(300)}T00:00:00.000Z`,
      trained_up_to: `${dateOf(299)}T00:00:00.000Z`,
    });
    expect(r.stderr).toContain(`held out: the 500 latest rows by booked_on, ${dateOf(300)} to ${dateOf(399)}; trained on the 1,500 rows up to ${dateOf(299)}`);
    // Served without it: a request need not send the column that ordered the training rows.
    const features = (await manifestOf('late', 1)).contract.features.map((f) => f.name);
    expect(features).not.toContain('booked_on');
    expect(features).toContain('day_copy');
  });

  it('orders by numbers, and by times with a zone; ties at the cut all go to the held-out side', async () => {
    // A month index: 400 days in 14 months of 30 days, so the cut falls inside a month.
    const months = write('months.csv', { seed: 2, when: (d) => String(Math.floor(d / 30)) });
    const ingested = await ingestCsv(months, { target: 'is_canceled', orderBy: 'booked_on' });
    expect(ingested.order!.kind).toBe('number');
    const split = timeSplit(ingested.data, ingested.order!, 0.25);
    // Months 0–9 are days 0–299; month 10 (days 300–329) starts the held-out side, with every later month.
    expect(split.time).toMatchObject({ from: 10, trainedUpTo: 9, last: 13 });
    expect(Math.min(...split.test.numeric.day_copy)).toBe(300);
    expect(split.test.rows).toBe(500);
    // Times with a zone are compared in UTC: 12:00 at +02:00 is 10:00Z.
    const zoned = write('zoned.csv', { seed: 3, when: (d) => `${dateOf(d)}T12:00:00+02:00` });
    const z = await ingestCsv(zoned, { target: 'is_canceled', orderBy: 'booked_on' });
    expect(z.order!.kind).toBe('time');
    expect(timeSplit(z.data, z.order!, 0.25).time).toMatchObject({ from: Date.parse(`${dateOf(300)}T10:00:00Z`) });
    // Dates as a spreadsheet writes them (the hotel bookings file's 7/1/2015): month/day, known by a day above 12.
    const us = (d: string) => `${Number(d.slice(5, 7))}/${Number(d.slice(8, 10))}/${d.slice(0, 4)}`;
    const eu = (d: string) => `${d.slice(8, 10)}/${d.slice(5, 7)}/${d.slice(0, 4)}`;
    for (const [name, format] of [
      ['us.csv', us],
      ['eu.csv', eu],
    ] as const) {
      const f = write(name, { seed: 10, when: (d) => format(dateOf(d)) });
      const read = await ingestCsv(f, { target: 'is_canceled', orderBy: 'booked_on' });
      const t = timeSplit(read.data, read.order!, 0.25);
      expect(t.time).toMatchObject({ kind: 'time', from: Date.parse(dateOf(300)), trainedUpTo: Date.parse(dateOf(299)), last: Date.parse(dateOf(399)) });
      expect(Math.min(...t.test.numeric.day_copy)).toBe(300);
    }
    // Only the first twelve days of each month: 3/4/2024 is the 4th of March or the 3rd of April.
    const early = write('early.csv', { seed: 11, when: (d) => `${1 + (d % 12)}/${1 + (Math.floor(d / 12) % 12)}/2024` });
    await expect(ingestCsv(early, { target: 'is_canceled', orderBy: 'booked_on' })).rejects.toThrow(
      `${early}: --time-column booked_on: dates such as 3/4/2024 read as month/day and as day/month alike in every row, so the order is not known; write them as 2026-11-23`,
    );
  });

  it('a later row that repeats an earlier one is what the model will meet: not warned of as a copy, as in a random split', async () => {
    const file = write('repeats.csv', { seed: 12, copyHalf: true });
    const byDraw = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'x', '--rounds', '10', '--exclude', 'booked_on', '--split', 'random', '--json'], env);
    expect(byDraw.code, byDraw.stderr).toBe(0);
    expect(byDraw.json().warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^\d{3} of the 500 held-out rows \(\d+ %\) have an exact copy/)]));
    const byTime = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'x', '--rounds', '10', '--split', 'time', '--time-column', 'booked_on', '--json'], env);
    expect(byTime.code, byTime.stderr).toBe(0);
    expect(byTime.json().run.split).toMatchObject({ held_out_with_copy: 500 });
    expect(byTime.json().warnings.filter((w: string) => w.includes('exact copy'))).toEqual([]);
  });

  it('a retrain splits the new data by the same column, at its own latest rows', async () => {
    const file = write('first.csv', { seed: 4 });
    expect(
      (await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'again', '--split', 'time', '--time-column', 'booked_on', '--rounds', '20', '--register', '--promote'], env)).code,
    ).toBe(0);
    // The next 400 days.
    const later = write('later.csv', { seed: 5, firstDay: 400 });
    const r = await runCli(['retrain', '--model', 'again', '--data', later, '--max-metric-drop', '1', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`held out: the 500 latest rows by booked_on, ${dateOf(700)} to ${dateOf(799)}; trained on the 1,500 rows up to ${dateOf(699)}`);
    expect(r.json()).toMatchObject({ status: 'registered', candidate_version: 2 });
    // The first file's own first 270 days, the rows version 1's trees grew on (days 270–299, the
    // latest tenth it trained on, decided when to stop): their latest rows are rows version 1
    // learned, and the retrain says so.
    const older = path.join(dir, 'older.csv');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    writeFileSync(older, [lines[0], ...lines.slice(1).filter((l) => l.slice(0, 10) < dateOf(270))].join('\n'));
    const flattered = await runCli(['retrain', '--model', 'again', '--version', '1', '--data', older, '--max-metric-drop', '1', '--json'], env);
    expect(flattered.code, flattered.stderr).toBe(0);
    expect(flattered.json().warnings).toEqual([
      expect.stringMatching(/Retraining holds out the new data's latest rows by booked_on; if they fall in the period version 1 was trained on, retrain on data that runs past it/),
    ]);
    expect((await manifestOf('again', 2)).training!.split).toMatchObject({
      kind: 'time',
      time_column: 'booked_on',
      held_out_from: `${dateOf(700)}T00:00:00.000Z`,
      trained_up_to: `${dateOf(699)}T00:00:00.000Z`,
    });
  });

  it("the training-data export writes each prediction's time in the time column, which a retrain splits by", async () => {
    const file = write('loop.csv', { seed: 13 });
    expect(
      (await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'loop', '--split', 'time', '--time-column', 'booked_on', '--rounds', '20', '--register', '--promote'], env)).code,
    ).toBe(0);
    const data = generateHotelBookings(400, 14);
    const s = await startTestServer({ jobs: false, dataDir: dir, db: { kind: 'sqlite', file: path.join(dir, 'modelgate.db') } });
    try {
      await s.pool.refresh(true);
      const items: { prediction_id: string; label: number }[] = [];
      // Event 0 is scored twice (a client's retry), each with its outcome: the file keeps it once, at its first time.
      for (const i of [0, ...Array.from({ length: 400 }, (_, k) => k)]) {
        const r = await s.app.inject({ method: 'POST', url: '/v1/infer', headers: s.auth, payload: { model: 'loop', event_id: `e${i}`, payload: { ...rowPayload(data, i), day_copy: i } } });
        expect(r.statusCode, r.body).toBe(200);
        items.push({ prediction_id: r.json().prediction_id, label: data.label[i] });
      }
      await s.audit.flush();
      expect((await s.app.inject({ method: 'POST', url: '/v1/feedback', headers: s.auth, payload: { items } })).statusCode).toBe(200);
    } finally {
      await s.stop();
    }
    const all = parse((await runCli(['predictions', 'export', '--model', 'loop'], env)).stdout, { columns: true }) as { event_id: string; at: string }[];
    const firstAt = new Map<string, string>();
    for (const r of [...all].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))) if (!firstAt.has(r.event_id)) firstAt.set(r.event_id, r.at);
    const out = path.join(dir, 'labelled.csv');
    const exported = await runCli(['predictions', 'export', '--model', 'loop', '--training-data', '--out', out, '--json'], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.json()).toMatchObject({ rows: 400, training_data: { time_column: 'booked_on', repeats: 1 } });
    const rows = parse(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]).slice(-2)).toEqual(['booked_on', 'is_canceled']);
    expect(rows.map((r) => r.booked_on)).toEqual(rows.map((r) => firstAt.get(r.event_id)));
    // The loop closes: a retrain on the traffic holds out its latest quarter by the time it was scored.
    const again = await runCli(['retrain', '--model', 'loop', '--data', out, '--max-metric-drop', '1', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    // By hand: the quarter's first time, and every row at it or after (two requests may share a millisecond).
    const times = rows.map((r) => r.booked_on).sort();
    const held = times.filter((t) => t >= times[300]).length;
    expect(again.stderr).toContain(`held out: the ${held} latest rows by booked_on, ${times[300]} to ${times[399]}; trained on the ${400 - held} rows up to ${times[399 - held]}`);
  });

  it('refuses flags that do not go together, saying what to do (the CLI, exit 2)', async () => {
    const file = write('flags.csv', { seed: 6 });
    const message = async (...flags: string[]) => {
      const r = await runCli(['train', '--data', file, '--target', 'is_canceled', '--model', 'x', '--json', ...flags], env);
      expect(r.code).toBe(2);
      return r.json().error.message as string;
    };
    expect(await message('--split', 'time')).toBe('--split time holds out the latest rows: name the column that says when each row happened with --time-column');
    expect(await message('--time-column', 'booked_on')).toBe('--time-column orders the rows for --split time; add --split time (the index split does not read it)');
    expect(await message('--split', 'time', '--time-column', 'booked_on', '--group-copies')).toMatch(/^--group-copies keeps copies together in an index or random split/);
  });

  it('refuses a column that cannot order the rows, naming the line, the kinds or the value', async () => {
    const read = (file: string, orderBy = 'booked_on') => ingestCsv(file, { target: 'is_canceled', orderBy }).then((i) => timeSplit(i.data, i.order!, 0.25));
    const file = write('columns.csv', { seed: 6 });
    await expect(read(file, 'Booked_On')).rejects.toThrow(/no column "Booked_On" for --time-column/);
    await expect(read(file, 'is_canceled')).rejects.toThrow('--time-column is_canceled is the target; name the column that says when each row happened');
    // Row 10 (line 12) says "yesterday", row 20 has none.
    const bad = write('bad.csv', { seed: 7, when: (d, i) => (i === 10 ? 'yesterday' : i === 20 ? '' : dateOf(d)) });
    await expect(read(bad)).rejects.toThrow(
      `${bad}: --time-column booked_on has 2 values that are neither a date or time (2026-11-23, 2026-11-23T10:00:00Z, 11/23/2026) nor a number, the first "yesterday" on line 12; a time split needs a time for every row: fill or drop those rows`,
    );
    const mixed = write('mixed.csv', { seed: 8, when: (d, i) => (i % 100 === 0 ? String(d) : dateOf(d)) });
    await expect(read(mixed)).rejects.toThrow(`${mixed}: --time-column booked_on holds dates in 1980 rows and plain numbers in 20, which do not order against each other; write every value one way`);
    const oneDay = write('one-day.csv', { seed: 9, when: () => '2024-05-01' });
    await expect(read(oneDay)).rejects.toThrow(
      '--time-column booked_on: the latest 25 % of the rows start at its first value (2024-05-01T00:00:00.000Z), so nothing would be left to train on before it; hold out less (--test-fraction) or order by a finer column',
    );
  });
});
