import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings } from '../src/training/index.js';
import { tempDir } from './helpers/db.js';
import { CLI_MAIN, REPO_ROOT } from './helpers/fixtures.js';
import { csvOf, registerTrained } from './helpers/retrain.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Ctrl-C on a command writing a large output: the file is written under a temporary name and
 * renamed when whole, and the temporary one (10 MB after 300,000 scored rows) stayed behind.
 */
describe('a CLI command interrupted while it writes', () => {
  let s: TestServer;
  const dir = tempDir();
  const data = path.join(dir, 'bookings.csv');
  beforeAll(async () => {
    s = await startTestServer({ jobs: false });
    await registerTrained(s, generateHotelBookings(3000, 1));
    writeFileSync(data, csvOf(generateHotelBookings(500_000, 5)));
  });
  afterAll(() => s?.stop());

  it('score: Ctrl-C removes the partial output and rejects files and exits 130', async () => {
    const out = path.join(dir, 'scored', 'bookings.csv');
    const child = spawn(process.execPath, [CLI_MAIN, 'score', '--model', 'hotel', '--data', data, '--out', out], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...s.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Interrupted once the first 50,000 rows are written (its first progress line).
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/ rows \([0-9,]+ rows\/s\)/.test(stderr)) resolve();
      });
      child.once('exit', () => reject(new Error(`score ended before it was interrupted:\n${stderr}`)));
    });
    expect(readdirSync(path.dirname(out)).some((f) => f.endsWith('.tmp'))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('SIGINT: stopped; the partial output was removed');
    expect(readdirSync(path.dirname(out))).toEqual([]);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
