import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

describe('startSiblingWorker', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelgate-worker-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a TypeScript sibling thread when the process runs from another directory', () => {
    // The sources run through tsx from a directory with no node_modules (as `npx tsx /path/to/main.ts`
    // elsewhere would): the thread must still find tsx, from modelgate's own folder.
    writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(path.join(dir, 'echo-thread.ts'), "import { parentPort, workerData } from 'node:worker_threads';\nparentPort!.postMessage((workerData as { n: number }).n * 2);\n");
    const worker = pathToFileURL(path.resolve(import.meta.dirname, 'worker.ts')).href;
    writeFileSync(
      path.join(dir, 'main.ts'),
      `import { startSiblingWorker } from ${JSON.stringify(worker)};
const w = startSiblingWorker(import.meta.url, 'echo-thread', { n: 21 });
w.once('message', (m: number) => { process.stdout.write('answer ' + m); void w.terminate(); });
w.once('error', (e: Error) => { process.stdout.write('failed ' + e.message); process.exitCode = 1; });
`,
    );
    const out = execFileSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(dir, 'main.ts')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(out).toBe('answer 42');
  });
});
