import { describe, expect, it } from 'vitest';
import { CopyBatch } from './copy-batch.js';
import type { PredictionRecord } from './store.js';

const record = (i: number, over: Partial<PredictionRecord> = {}): PredictionRecord => ({
  id: `0190a4c2-7e1f-7abc-8def-${String(i).padStart(12, '0')}`,
  at: `2026-11-24T10:00:00.${String(i % 1000).padStart(3, '0')}Z`,
  model: 'hotel-cancel',
  version: 3,
  arm: 'production',
  event_id: null,
  features: '{"lead_time":17,"hotel":"City Hotel"}',
  features_sha256: null,
  score: 0.1 + i / 7,
  decision: 'act',
  latency_ms: 0.123,
  cached: false,
  key_id: 'admin-token',
  label: null,
  ...over,
});

describe('CopyBatch', () => {
  it('gives back exactly the records added, whatever their strings hold', () => {
    const awkward: PredictionRecord[] = [
      record(1, { event_id: 'tab\there', features: '{"s":"line\\nbreak \\\\ back\\"slash"}', key_id: null }),
      record(2, { event_id: 'raw\nnewline\r\nand CR', model: 'm\\odel', decision: 'dé\tcision' }),
      // The literal two characters \N are a value, not NULL.
      record(3, { event_id: '\\N', features: null, features_sha256: 'ab'.repeat(32), arm: 'canary', cached: true }),
      record(4, { event_id: 'ünïcødé 🚀 中文', features: '{"emoji":"🚀"}', score: 1e-300, latency_ms: 12345.678 }),
      record(5, { event_id: '', score: 0.30000000000000004, version: 2147483647, arm: 'shadow' }),
      record(6, { label: 'Month-to-month', decision: 'Month-to-month' }),
      record(7, { label: 'tab\tand \\N', score: 21500.25 }),
      record(6, { event_id: '\\', features: '\\t\\\\', key_id: '\t\t' }),
    ];
    const b = new CopyBatch();
    for (const r of awkward) b.add(r);
    expect(b.size).toBe(awkward.length);
    expect(b.records()).toEqual(awkward);
    // One line per record, whatever newlines the values hold.
    expect(b.data().toString('utf8').split('\n')).toHaveLength(awkward.length + 1);
  });

  it('grows past its first buffer without losing or cutting a record', () => {
    const big = 'x'.repeat(100_000);
    const multiByte = '€'.repeat(100_000); // 3 bytes each in UTF-8: 300 kB, past any doubling of the first buffer
    const rows = Array.from({ length: 3000 }, (_, i) => (i % 500 === 1 ? record(i, { features: `{"a":"${big}"}` }) : i % 777 === 0 ? record(i, { features: `{"b":"${multiByte}"}` }) : record(i)));
    const b = new CopyBatch();
    for (const r of rows) b.add(r);
    expect(b.records()).toEqual(rows);
    const expectedBytes = rows.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
    // COPY text is a little smaller than JSON (no names, no quotes) but the same order of size.
    expect(b.data().length).toBeGreaterThan(expectedBytes * 0.5);
    expect(b.data().length).toBeLessThan(expectedBytes);
  });

  it('an empty batch has no data and no records', () => {
    const b = new CopyBatch();
    expect(b.size).toBe(0);
    expect(b.data().length).toBe(0);
    expect(b.records()).toEqual([]);
  });
});
