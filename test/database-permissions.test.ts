import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { PG_URL, randomId, tempDir } from './helpers/db.js';

// A role made for modelgate on PostgreSQL 15 or later may not create tables in public, and its
// first `modelgate migrate` said only "error: permission denied for schema public".
describe('modelgate migrate as a PostgreSQL user without the privileges it needs', () => {
  const role = randomId('app');
  const schema = randomId('mg');
  let admin: pg.Client;
  const env = () => ({ DATABASE_URL: `${PG_URL.replace('//postgres@', `//${role}@`)}?options=-c%20search_path%3D${schema}`, MODELGATE_DATA_DIR: tempDir() });

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create role ${role} login`);
    await admin.query(`create schema ${schema}`);
  });
  afterAll(async () => {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.query(`drop owned by ${role}`).catch(() => undefined);
    await admin.query(`drop role if exists ${role}`);
    await admin.end();
  });

  it('says which privilege and how to grant it; with the grants the same command migrates', async () => {
    // Without USAGE the schema is skipped on the search path: nowhere to create.
    const unusable = await runCli(['migrate'], env(), { timeoutMs: 60_000 });
    expect(unusable.code, unusable.stderr).toBe(1);
    expect(unusable.stderr).toContain(
      "error: no schema on the database user's search_path can be used (3F000: no schema has been selected to create in): the schema DATABASE_URL's search_path names does not exist or the user may not use it",
    );
    await admin.query(`grant usage on schema ${schema} to ${role}`);
    const denied = await runCli(['migrate'], env(), { timeoutMs: 60_000 });
    expect(denied.code, denied.stderr).toBe(1);
    expect(denied.stderr).toContain(`error: the database user in DATABASE_URL may not create or use tables in schema ${schema} (42501: permission denied for schema ${schema})`);
    expect(denied.stderr).toContain(`GRANT USAGE, CREATE ON SCHEMA ${schema} TO that user`);
    await admin.query(`grant create on schema ${schema} to ${role}`);
    const migrated = await runCli(['migrate', '--json'], env(), { timeoutMs: 60_000 });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.json().pending).toEqual([]);
  });
});
