import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The CPU and memory limits of the container (or cgroup) this process runs in: cgroup v2
 * (`cpu.max`: "quota period" or "max"; `memory.max`: bytes or "max"), else cgroup v1
 * (`cpu.cfs_quota_us` ÷ `cpu.cfs_period_us`, -1 for none; `memory.limit_in_bytes`, a huge
 * number for none), the lowest over this process's cgroup and the ancestors that are visible.
 * Read on each call: limits can change without a restart (a VPA, `docker update`). No limit,
 * or no cgroup filesystem: nothing. `root` is the filesystem root, for tests.
 */
export function containerLimits(root = '/'): { cpuCores?: number; memoryBytes?: number } {
  const self = read(path.join(root, 'proc/self/cgroup')) ?? '';
  const v2Base = path.join(root, 'sys/fs/cgroup');
  const v2 = /^0::(.*)$/m.exec(self)?.[1];
  if (v2 !== undefined && existsSync(path.join(v2Base, 'cgroup.controllers'))) {
    const dirs = ancestry(v2Base, v2);
    return limits(
      lowest(dirs, (dir) => {
        const [max, period] = (read(path.join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
        return max && max !== 'max' && period ? Number(max) / Number(period) : undefined;
      }),
      lowest(dirs, (dir) => Number(read(path.join(dir, 'memory.max')))),
    );
  }
  // cgroup v1: each controller's own line (`4:cpu,cpuacct:/docker/…`) and mount (cpu or cpu,cpuacct).
  const v1 = (controller: string, mounts: string[], file: string) => {
    const line = new RegExp(`^\\d+:([^:]*\\b${controller}\\b[^:]*):(.*)$`, 'm').exec(self);
    const base = mounts.map((m) => path.join(root, 'sys/fs/cgroup', m)).find((b) => existsSync(path.join(b, file)));
    return base ? ancestry(base, line?.[2] ?? '/') : [];
  };
  const cpu = lowest(v1('cpu', ['cpu', 'cpu,cpuacct', 'cpuacct,cpu'], 'cpu.cfs_period_us'), (dir) => {
    const quota = Number(read(path.join(dir, 'cpu.cfs_quota_us')));
    const period = Number(read(path.join(dir, 'cpu.cfs_period_us')));
    return quota > 0 && period > 0 ? quota / period : undefined;
  });
  // "No limit" is the largest page-rounded 64-bit number there.
  const memory = lowest(v1('memory', ['memory'], 'memory.limit_in_bytes'), (dir) => {
    const bytes = Number(read(path.join(dir, 'memory.limit_in_bytes')));
    return bytes < 2 ** 60 ? bytes : undefined;
  });
  return limits(cpu, memory);
}

export interface Cores {
  /** Whole cores this process may keep busy: the machine's (its CPU affinity), or fewer under a CPU limit. */
  usable: number;
  /** What the affinity mask allows (os.availableParallelism()). */
  machine: number;
  /** The CPU limit in cores, when one is set. */
  limit?: number;
}

/**
 * The cores `WORKERS=auto` counts. Node 20's os.availableParallelism() reads the affinity mask
 * only, not the CPU limit a container runs under (Kubernetes' `limits.cpu`, `docker --cpus`):
 * a pod limited to 2 CPUs on a 64-core node would fork 64 workers, each with its own copy of
 * every model, until the memory limit killed it. The limit rounded down, at least 1.
 */
export function usableCores(root = '/', machine = os.availableParallelism()): Cores {
  const limit = containerLimits(root).cpuCores;
  return limit === undefined ? { usable: machine, machine } : { usable: Math.max(1, Math.min(machine, Math.floor(limit))), machine, limit };
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const limits = (cpuCores: number | undefined, memoryBytes: number | undefined) => ({
  ...(cpuCores !== undefined ? { cpuCores } : {}),
  ...(memoryBytes !== undefined ? { memoryBytes } : {}),
});

/** The lowest positive finite value of one reading over the directories. */
function lowest(dirs: string[], value: (dir: string) => number | undefined): number | undefined {
  let found: number | undefined;
  for (const dir of dirs) {
    const v = value(dir);
    if (v !== undefined && Number.isFinite(v) && v > 0) found = found === undefined ? v : Math.min(found, v);
  }
  return found;
}

/**
 * The directories from this process's cgroup up to the mount's root. Inside a container the
 * mount's root is the container's own cgroup while /proc/self/cgroup may still name the host's
 * path (cgroup v1 without a cgroup namespace): a path that is not there leaves the root alone.
 */
function ancestry(base: string, cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  if (parts.length === 0 || !existsSync(path.join(base, ...parts))) return [base];
  return parts.map((_, i) => path.join(base, ...parts.slice(0, parts.length - i))).concat(base);
}
