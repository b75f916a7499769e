import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { CLI_MAIN, REPO_ROOT } from './helpers/fixtures.js';

/**
 * `modelgate demo` as a new user runs it: it generates data, trains, registers, serves on a
 * real port and prints curl lines; every printed curl line that posts JSON is sent as printed
 * and must answer 200 with the fields of the model's task.
 */
async function runDemo(args: string[]): Promise<{ output: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), 'demo', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', MODELGATE_DATA_DIR: tempDir(), PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (output.includes('Ctrl-C stops the server.')) {
        clearInterval(check);
        resolve();
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(check);
      reject(new Error(`demo exited with ${code}: ${errors}`));
    });
  });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  return { output, stop };
}

/** The printed `curl … URL -d 'JSON'` lines, sent as printed. */
async function sendCurlLines(output: string): Promise<{ url: string; status: number; body: Record<string, unknown> }[]> {
  const token = /Bearer ([^"]+)"/.exec(output)![1];
  const sent = [];
  for (const line of output.split('\n').filter((l) => l.startsWith('curl') && l.includes(" -d '"))) {
    const url = /(http:\/\/\S+)/.exec(line)![1];
    const body = line.slice(line.indexOf(" -d '") + 5, -1);
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    sent.push({ url, status: res.status, body: (await res.json()) as Record<string, unknown> });
  }
  return sent;
}

describe('modelgate demo', () => {
  it('--task regression: trains a price model on dirty car listings, serves it, and its curl lines work', async () => {
    const demo = await runDemo(['--task', 'regression', '--rows', '3000']);
    try {
      expect(demo.output).toMatch(/modelgate is serving car-price v1 at http:\/\/127\.0\.0\.1:\d+/);
      const replies = await sendCurlLines(demo.output);
      expect(replies.map((r) => r.url.replace(/^http:\/\/[^/]+/, ''))).toEqual(['/v1/infer', '/v1/models/car-price/predict', '/v2/models/car-price/infer']);
      for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(200);
      const one = replies[0].body;
      expect(typeof one.value).toBe('number');
      expect(one.value).toBeGreaterThan(0);
      expect(['low', 'mid', 'high']).toContain(one.decision);
      expect((replies[1].body.predictions as unknown[]).length).toBe(2);
      const oip = replies[2].body as { outputs: { name: string; data: unknown[] }[] };
      expect(oip.outputs.find((o) => o.name === 'value')!.data[0]).toBe(one.value);
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 240_000);

  it('--no-serve prints a serve command that runs as printed, on the port asked for, and accepts the token', async () => {
    const dataDir = path.join(tempDir(), "a user's demo");
    // Port 0 (any free one): the command must carry it, and the server says which it took.
    const demo = await runCli(['demo', '--rows', '2000', '--no-serve', '--port', '0'], { MODELGATE_DATA_DIR: dataDir });
    expect(demo.code, demo.stderr).toBe(0);
    const command = /^start a server that accepts this admin token with:\n {2}(.+)$/m.exec(demo.stdout)![1];
    const token = /MODELGATE_ADMIN_TOKEN=(\S+)/.exec(command)![1];
    // Run by a shell as printed, but with the built command in place of `npx modelgate`: npx in a new
    // clone first links it into the user's npm cache, a minute's work a test should not do to ~/.npm.
    expect(command).toMatch(/ npx modelgate serve --port 0$/);
    const asRun = command.replace(' npx modelgate ', ` ${process.execPath} ${CLI_MAIN} `);
    const child = spawn('bash', ['-c', `export LOG_LEVEL=info; ${asRun}`], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        const check = setInterval(() => {
          const m = /Server listening at http:\/\/\S+:(\d+)/.exec(log);
          if (m) {
            clearInterval(check);
            resolve(m[1]);
          }
        }, 100);
        child.once('exit', (code) => {
          clearInterval(check);
          reject(new Error(`the printed command exited (${code}) instead of serving: ${log}`));
        });
      });
      const who = await fetch(`http://127.0.0.1:${port}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(who.status).toBe(200);
      expect(await who.json()).toMatchObject({ id: 'admin-token' });
      // It serves the registry the demo wrote (the quoted directory), not an empty one.
      const models = await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
      expect(JSON.stringify(await models.json())).toContain('hotel-cancel');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    }
  }, 240_000);

  it("a demo model can be retrained on the demo's own CSV, as a trained one can", async () => {
    const env = { MODELGATE_DATA_DIR: tempDir() };
    for (const [task, model, csv, main] of [
      ['binary', 'hotel-cancel', 'hotel_bookings.csv', 'roc_auc'],
      ['regression', 'car-price', 'car_listings.csv', 'r2'],
    ]) {
      const demo = await runCli(['demo', '--task', task, '--rows', '2000', '--no-serve', '--json'], env);
      expect(demo.code, demo.stderr).toBe(0);
      const data = path.join(env.MODELGATE_DATA_DIR, 'demo', csv);
      // The very data version 1 was trained on: nothing to do, and how to train anyway.
      const same = await runCli(['retrain', '--model', model, '--data', data], env);
      expect(same.code, same.stderr).toBe(0);
      expect(same.stdout).toMatch(
        new RegExp(
          `^${model}: nothing to retrain from version 1: .*${csv} is the data version 1 was trained on \\(sha256 [0-9a-f]{12}…\\); nothing was trained or registered \\(--same-data trains on it again anyway`,
        ),
      );
      const r = await runCli(['retrain', '--model', model, '--data', data, '--same-data', '--max-metric-drop', '0.001', '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // The same data trained again by the same run record: the same quality on the same held-out rows.
      const { status, candidate_version, metrics } = r.json();
      expect({ status, candidate_version }).toEqual({ status: 'registered', candidate_version: 2 });
      expect(metrics.candidate[main]).toBeCloseTo(metrics.current[main], 3);
    }
    // A plan's data is read by the servers, maybe days later and from another directory: a relative
    // path is stored absolute, and one this machine cannot read is said at once.
    const plan = await runCli(['retrain', 'plan', 'set', '--model', 'car-price', '--data', 'exports/listings.csv', '--json'], env);
    expect(plan.code, plan.stderr).toBe(0);
    const absolute = path.join(REPO_ROOT, 'exports', 'listings.csv');
    expect(plan.json().data).toBe(absolute);
    expect(plan.stderr).toContain(`warning: ${absolute} is not a file this machine can read; the plan reads it on the server when it runs`);
    // A run that failed shows why beside it in the plan's runs.
    expect((await runCli(['retrain', '--model', 'car-price', '--data', absolute], env)).code).toBe(2);
    const shown = await runCli(['retrain', 'plan', 'show', '--model', 'car-price'], env);
    expect(shown.stdout).toContain(`car-price: retrain on ${absolute}, at most every 7d (set by`);
    // Each run names who started it (the CLI's user).
    expect(shown.stdout).toMatch(new RegExp(`cli:\\S+ +failed +from v1: cannot read ${absolute.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such file`));
    expect(shown.stdout).toMatch(/cli:\S+ +registered +from v1 → v2\n/);
  }, 240_000);

  it('the default (binary) demo: its curl lines work too, and the first answers what the README shows', async () => {
    const demo = await runDemo([]);
    try {
      const replies = await sendCurlLines(demo.output);
      expect(replies).toHaveLength(3);
      for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(['act', 'none']).toContain(replies[0].body.decision);
      // The demo's data and training are seeded, so a new user's reply is the README's, id aside.
      const shown = /^# → (\{"prediction_id".*\})$/m.exec(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'))![1];
      expect({ ...replies[0].body, prediction_id: '…' }).toEqual(JSON.parse(shown));
      // The console line it prints opens the console, and the printed admin token signs in to it.
      const consoleUrl = /^open (http:\/\/\S+\/ui\/)$/m.exec(demo.output)![1];
      const page = await fetch(consoleUrl);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script src="/ui/app.js">');
      const token = /admin token of this server[^:]*: (\S+)/.exec(demo.output)![1];
      const who = await fetch(new URL('/v1/whoami', consoleUrl), { headers: { authorization: `Bearer ${token}` } });
      expect(await who.json()).toMatchObject({ id: 'admin-token', scopes: expect.arrayContaining(['admin']) as unknown });
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 240_000);
});
