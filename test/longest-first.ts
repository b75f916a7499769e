import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Test files longest first, by the seconds each took in a full run on the 2-core machine
 * (test/durations.json; refresh it with `node scripts/test-durations.mjs report.json` from
 * `npx vitest run --reporter=json --outputFile=report.json`). Vitest orders a clean checkout's
 * files by size, so a small file that runs long (a server killed and restarted, a 20-second
 * load) started last and kept one worker busy after the others had finished: on 2026-12-07 the
 * suite's 1,744 s of work across three workers took 608 s where 581 would do. Where vitest has
 * timings of its own (its cache, after a local run), its order stands.
 */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const cached = files.every((f) => this.ctx.cache.getFileTestResults(`${f.project.name}:${path.relative(root, f.moduleId)}`));
    if (cached) return super.sort(files);
    const seconds = JSON.parse(readFileSync(path.join(root, 'test', 'durations.json'), 'utf8')) as Record<string, number>;
    // A file not in the table: a guess from its size (about a second for every 500 bytes of test code, as the table's files run).
    const weight = (f: TestSpecification) => seconds[path.relative(root, f.moduleId)] ?? statSync(f.moduleId).size / 500;
    return [...files].sort((a, b) => weight(b) - weight(a));
  }
}
