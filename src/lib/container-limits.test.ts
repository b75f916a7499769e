import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/db.js';
import { containerLimits, usableCores } from './container-limits.js';

/** A filesystem root holding the given files (path → content). */
function fsRoot(files: Record<string, string>): string {
  const root = tempDir('modelgate-cgroup-');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), content);
  }
  return root;
}

describe('usableCores: what WORKERS=auto counts', () => {
  it('cgroup v2 in a container (its own namespace): cpu.max quota ÷ period, rounded down, never above the machine', () => {
    const v2 = (max: string) => fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cgroup.controllers': 'cpu memory\n', 'sys/fs/cgroup/cpu.max': `${max}\n` });
    expect(usableCores(v2('200000 100000'), 16)).toEqual({ usable: 2, machine: 16, limit: 2 });
    expect(usableCores(v2('150000 100000'), 16)).toEqual({ usable: 1, machine: 16, limit: 1.5 });
    // Kubernetes' limits.cpu: 500m: half a core still runs one process.
    expect(usableCores(v2('50000 100000'), 16)).toEqual({ usable: 1, machine: 16, limit: 0.5 });
    expect(usableCores(v2('800000 100000'), 4)).toEqual({ usable: 4, machine: 4, limit: 8 });
    expect(usableCores(v2('max 100000'), 16)).toEqual({ usable: 16, machine: 16 });
  });

  it("cgroup v2 on a host: the process's own cgroup and its parents, the lowest limit wins", () => {
    const root = fsRoot({
      'proc/self/cgroup': '0::/system.slice/modelgate.service\n',
      'sys/fs/cgroup/cgroup.controllers': 'cpu\n',
      'sys/fs/cgroup/system.slice/cpu.max': '300000 100000\n',
      'sys/fs/cgroup/system.slice/modelgate.service/cpu.max': 'max 100000\n',
    });
    expect(usableCores(root, 8)).toEqual({ usable: 3, machine: 8, limit: 3 });
  });

  it('cgroup v1 (docker --cpus without a cgroup namespace): cfs_quota_us ÷ cfs_period_us at the mount, -1 for none', () => {
    const v1 = (quota: string, mount = 'cpu,cpuacct') =>
      fsRoot({
        'proc/self/cgroup': '11:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/system.slice/containerd.service\n',
        [`sys/fs/cgroup/${mount}/cpu.cfs_quota_us`]: `${quota}\n`,
        [`sys/fs/cgroup/${mount}/cpu.cfs_period_us`]: '100000\n',
      });
    expect(usableCores(v1('100000'), 2)).toEqual({ usable: 1, machine: 2, limit: 1 });
    expect(usableCores(v1('250000', 'cpu'), 8)).toEqual({ usable: 2, machine: 8, limit: 2.5 });
    expect(usableCores(v1('-1'), 8)).toEqual({ usable: 8, machine: 8 });
  });

  it('no cgroup files (not Linux, or nothing mounted), or files it cannot read: the machine', () => {
    expect(usableCores(fsRoot({}), 6)).toEqual({ usable: 6, machine: 6 });
    const garbled = fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cgroup.controllers': '', 'sys/fs/cgroup/cpu.max': 'lots\n' });
    expect(usableCores(garbled, 6)).toEqual({ usable: 6, machine: 6 });
  });
});

describe('containerLimits: the CPU and memory limits /metrics reports', () => {
  it('cgroup v2: cpu.max quota ÷ period in cores, memory.max in bytes; "max" is no limit', () => {
    const v2 = (cpu: string, memory: string) =>
      fsRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cgroup.controllers': 'cpu memory\n', 'sys/fs/cgroup/cpu.max': `${cpu}\n`, 'sys/fs/cgroup/memory.max': `${memory}\n` });
    expect(containerLimits(v2('150000 100000', '1073741824'))).toEqual({ cpuCores: 1.5, memoryBytes: 1073741824 });
    expect(containerLimits(v2('max 100000', 'max'))).toEqual({});
  });

  it("cgroup v1, a parent's lower memory limit, and no cgroup filesystem at all", () => {
    const v1 = (quota: string, memory: string) =>
      fsRoot({
        'proc/self/cgroup': '5:memory:/\n4:cpu,cpuacct:/\n',
        'sys/fs/cgroup/cpu/cpu.cfs_quota_us': `${quota}\n`,
        'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
        'sys/fs/cgroup/memory/memory.limit_in_bytes': `${memory}\n`,
      });
    expect(containerLimits(v1('50000', '536870912'))).toEqual({ cpuCores: 0.5, memoryBytes: 536870912 });
    expect(containerLimits(v1('-1', '9223372036854771712'))).toEqual({});
    const nested = fsRoot({
      'proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
      'sys/fs/cgroup/cgroup.controllers': 'memory\n',
      'sys/fs/cgroup/kubepods/pod1/memory.max': '268435456\n',
      'sys/fs/cgroup/kubepods/pod1/ctr/memory.max': 'max\n',
    });
    expect(containerLimits(nested)).toEqual({ memoryBytes: 268435456 });
    expect(containerLimits(fsRoot({}))).toEqual({});
  });
});
