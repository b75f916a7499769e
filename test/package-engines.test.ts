import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/fixtures.js';

/*
 * The README promises the server on any Node 20 and the tests and build on 20.19 or newer.
 * A dependency that moves to `engines: node >=22` fills `npm ci` with warnings and may call
 * what Node 20 lacks, so every locked package must accept the oldest Node the README names.
 */
type LockedPackage = { dev?: boolean; optional?: boolean; engines?: Record<string, string> | string[] };
const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> };
const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

const SERVER_NODE = semver.minVersion(manifest.engines.node)!.version;
const TOOLS_NODE = '20.19.0';

/** Locked packages whose declared Node range leaves out `version`. */
function refusing(version: string, which: (p: LockedPackage) => boolean): string[] {
  return Object.entries(lock.packages)
    .filter(([name, p]) => name !== '' && which(p) && p.engines && !Array.isArray(p.engines) && p.engines.node)
    .filter(([, p]) => !semver.satisfies(version, (p.engines as Record<string, string>).node))
    .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')} (node ${(p.engines as Record<string, string>).node})`);
}

describe('Node versions the locked dependencies accept', () => {
  it('package.json and the README name the same oldest Node for the server and for the tools', () => {
    expect(SERVER_NODE).toBe('20.0.0');
    expect(readme).toContain('Node 20 or newer');
    expect(readme).toContain('Node 20.19 or newer');
  });

  it(`every package the server installs accepts Node ${SERVER_NODE}`, () => {
    expect(refusing(SERVER_NODE, (p) => !p.dev)).toEqual([]);
  });

  it(`every package, the test and build tools included, accepts Node ${TOOLS_NODE}`, () => {
    expect(refusing(TOOLS_NODE, () => true)).toEqual([]);
  });
});
