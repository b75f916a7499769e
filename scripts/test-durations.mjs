// Writes test/durations.json, the seconds each test file took, from a vitest JSON report of a
// full run on the 2-core machine: npx vitest run --reporter=json --outputFile=report.json, then
// node scripts/test-durations.mjs report.json. test/longest-first.ts starts the longest first.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const report = process.argv[2];
if (!report) {
  console.error('usage: node scripts/test-durations.mjs REPORT.json (from npx vitest run --reporter=json --outputFile=REPORT.json)');
  process.exit(2);
}
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
// Files are named by absolute path in whichever checkout ran them: taken relative to the folder
// that holds both src/ and test/ (the project's root).
const rootOf = (file) => {
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf('test') > 0 ? parts.lastIndexOf('test') : parts.lastIndexOf('src');
  return parts.slice(0, at).join(path.sep);
};
const roots = [...new Set(testResults.map((r) => rootOf(r.name)))].sort((a, b) => a.length - b.length);
const seconds = Object.fromEntries(testResults.map((r) => [path.relative(roots[0], r.name), Math.round((r.endTime - r.startTime) / 100) / 10]).sort((a, b) => b[1] - a[1]));
const out = path.join('test', 'durations.json');
writeFileSync(`${out}.tmp`, `${JSON.stringify(seconds, null, 2)}\n`);
renameSync(`${out}.tmp`, out);
console.log(`${Object.keys(seconds).length} files written to ${out}`);
