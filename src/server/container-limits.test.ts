import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { containerLimits } from './container-limits.js';

const cgroup = (files: Record<string, string>) => {
  const dir = tempDir('modelgate-cgroup-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), `${text}\n`);
  }
  return dir;
};

describe('container limits from cgroups', () => {
  it('cgroup v2: cpu.max quota/period in cores, memory.max in bytes; "max" is no limit', () => {
    expect(containerLimits(cgroup({ 'cpu.max': '150000 100000', 'memory.max': '1073741824' }))).toEqual({ cpuCores: 1.5, memoryBytes: 1073741824 });
    expect(containerLimits(cgroup({ 'cpu.max': 'max 100000', 'memory.max': 'max' }))).toEqual({});
  });

  it('cgroup v1, and no cgroup filesystem at all', () => {
    expect(containerLimits(cgroup({ 'cpu/cpu.cfs_quota_us': '50000', 'cpu/cpu.cfs_period_us': '100000', 'memory/memory.limit_in_bytes': '536870912' }))).toEqual({
      cpuCores: 0.5,
      memoryBytes: 536870912,
    });
    expect(containerLimits(cgroup({ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000', 'memory/memory.limit_in_bytes': '9223372036854771712' }))).toEqual({});
    expect(containerLimits(path.join(tempDir(), 'nothing'))).toEqual({});
  });
});
