import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/db.js';
import { kindFixture } from './helpers/fixtures.js';

/**
 * Paths a user gets wrong: a directory where a file goes, a file where a directory goes, a file
 * that is not there. Each is a usage error (exit 2) that says what to give instead, found before
 * any work is done; until now several read as internal errors ("EISDIR: illegal operation on a
 * directory, read", exit 1), --out only after the scoring or the report.
 */
describe('paths given to the CLI', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: path.join(dir, 'data'), MODELGATE_AUTH: 'off' };
  const folder = path.join(dir, 'reports');
  const plainFile = path.join(dir, 'notes.txt');
  const charges = kindFixture('telco_charges');
  const rows = path.join(dir, 'rows.csv');
  const usageError = async (args: string[]) => {
    const r = await runCli([...args, '--json'], env);
    expect(r.code, r.stderr).toBe(2);
    const error = r.json().error;
    expect(error.code).toBe('BAD_REQUEST');
    return error.message as string;
  };

  beforeAll(async () => {
    mkdirSync(folder, { recursive: true });
    writeFileSync(plainFile, 'not a directory\n');
    const onnx = path.join(dir, 'charges.onnx');
    writeFileSync(onnx, charges.onnx);
    const cols = Object.keys(charges.expected.rows[0]);
    writeFileSync(rows, `${[[...cols, 'TotalCharges'].join(','), ...charges.expected.rows.map((r, i) => [...cols.map((c) => String(r[c] ?? '')), String(100 + i)].join(','))].join('\n')}\n`);
    expect((await runCli(['register', '--model', 'charges', '--onnx', onnx], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'charges', '--version', '1'], env)).code).toBe(0);
  }, 120_000);

  it('a directory or a missing file to read from: the reason in words, exit 2', async () => {
    expect(await usageError(['train', '--data', folder, '--target', 'y', '--model', 'm'])).toBe(`cannot read ${folder}: it is a directory; give the path of a CSV file with a header row`);
    expect(await usageError(['score', '--model', 'charges', '--data', folder, '--out', path.join(dir, 'o.csv')])).toBe(
      `cannot read ${folder}: it is a directory; give the path of a CSV file or s3://bucket/key`,
    );
    expect(await usageError(['evaluate', '--model', 'charges', '--data', folder, '--target', 'TotalCharges'])).toBe(
      `cannot read ${folder}: it is a directory; give the path of a CSV file with a header row`,
    );
    const missing = path.join(dir, 'missing.csv');
    expect(await usageError(['evaluate', '--model', 'charges', '--data', missing, '--target', 'TotalCharges'])).toBe(
      `cannot read ${missing}: no such file; give the path of a CSV file with a header row`,
    );
    expect(await usageError(['feedback', 'import', '--file', folder])).toBe(`cannot read ${folder}: it is a directory; give the path of a CSV file`);
    expect(await usageError(['score', '--model', 'charges', '--data', path.join(plainFile, 'rows.csv'), '--out', path.join(dir, 'o.csv')])).toBe(
      `cannot read ${path.join(plainFile, 'rows.csv')}: a part of the path is a file, not a directory; give the path of a CSV file or s3://bucket/key`,
    );
  }, 60_000);

  it('a pipe to a command that reads its file more than once: refused in words, not "ESPIPE: invalid seek"', async () => {
    const fifo = path.join(dir, 'rows.fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer that waits for a reader; the command refuses without opening the pipe, so it is ended after.
    const writer = spawn('sh', ['-c', `cat ${rows} > ${fifo}`], { stdio: 'ignore' });
    try {
      const message = `cannot read ${fifo}: it is a pipe or a device, and this command reads its file from the start more than once; save the rows to a file first (for example: … > rows.csv) and give that`;
      expect(await usageError(['evaluate', '--model', 'charges', '--data', fifo, '--target', 'TotalCharges'])).toBe(message);
      expect(await usageError(['train', '--data', fifo, '--target', 'TotalCharges', '--model', 'm'])).toBe(message);
      expect(await usageError(['feedback', 'import', '--file', fifo])).toBe(message);
    } finally {
      writer.kill();
    }
  }, 60_000);

  it('a directory to write to, or a path through a file: refused before any work, and nothing left behind', async () => {
    expect(await usageError(['score', '--model', 'charges', '--data', rows, '--out', folder])).toBe(
      `--out ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'scored.csv')}`,
    );
    const out = path.join(dir, 'scored', 'charges.csv');
    expect(await usageError(['score', '--model', 'charges', '--data', rows, '--out', out, '--rejects', folder])).toBe(
      `--rejects ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'rejects.csv')}`,
    );
    // The --out file begun before --rejects was refused is gone, temporary name and all.
    expect(readdirSync(path.dirname(out))).toEqual([]);
    expect(await usageError(['evaluate', '--model', 'charges', '--data', rows, '--target', 'TotalCharges', '--out', folder])).toBe(
      `--out ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'evaluation.json')}`,
    );
    expect(await usageError(['monitor', '--model', 'charges', '--out', folder])).toBe(`--out ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'report.json')}`);
    expect(await usageError(['monitor', '--model', 'charges', '--html', path.join(plainFile, 'drift', 'report.html')])).toBe(
      `--html ${path.join(plainFile, 'drift', 'report.html')}: ${plainFile} is a file, not a directory`,
    );
    // Refused at its flags: no report was begun (and so none stored).
    expect((await runCli(['monitor', '--model', 'charges', '--out', folder, '--json'], env)).stderr).not.toContain('monitoring charges over');
    expect(await usageError(['backup', '--out', folder])).toBe(`--out ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'modelgate-backup.tar')}`);
    expect(await usageError(['predictions', 'export', '--model', 'charges', '--out', folder])).toBe(
      `--out ${folder}: it is a directory; give the path of a file, such as ${path.join(folder, 'predictions.csv')}`,
    );
    expect(readdirSync(folder)).toEqual([]);
    expect(existsSync(`${folder}.rejects.csv`)).toBe(false);
  }, 60_000);
});
