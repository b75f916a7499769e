import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DbLocation } from '../../src/db/index.js';

export type { DbLocation };

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const randomId = (prefix = 't') => `${prefix}_${randomBytes(6).toString('hex')}`;

export function tempDir(prefix = 'modelgate-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A fresh, isolated database location: its own SQLite file, or its own PostgreSQL schema. */
export function freshDb(dialect: 'sqlite' | 'postgres'): DbLocation {
  if (dialect === 'sqlite') return { kind: 'sqlite', file: path.join(tempDir(), 'modelgate.db') };
  return { kind: 'postgres', url: PG_URL, schema: randomId('mg') };
}

export async function dropDb(loc: DbLocation): Promise<void> {
  if (loc.kind !== 'postgres' || !loc.schema) return;
  const c = new pg.Client({ connectionString: loc.url });
  await c.connect();
  try {
    await c.query(`drop schema if exists ${loc.schema} cascade`);
  } finally {
    await c.end();
  }
}

export const DIALECTS = ['sqlite', 'postgres'] as const;
