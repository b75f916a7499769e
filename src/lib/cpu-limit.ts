import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Cores {
  /** Whole cores this process may keep busy: the machine's (its CPU affinity), or fewer under a CPU limit. */
  usable: number;
  /** What the affinity mask allows (os.availableParallelism()). */
  machine: number;
  /** The cgroup CPU limit in cores (quota ÷ period, the lowest on the way to the root), when one is set. */
  limit?: number;
}

/**
 * The cores `WORKERS=auto` counts. Node 20's os.availableParallelism() reads the affinity mask
 * only, not the CPU limit a container runs under (Kubernetes' `limits.cpu`, `docker --cpus`):
 * a pod limited to 2 CPUs on a 64-core node would fork 64 workers, each with its own copy of
 * every model, until the memory limit killed it. The limit is the cgroup's CFS quota (cgroup v2
 * `cpu.max`, v1 `cpu.cfs_quota_us` ÷ `cpu.cfs_period_us`), rounded down, at least 1.
 * `root` is the filesystem root, for tests.
 */
export function usableCores(root = '/', machine = os.availableParallelism()): Cores {
  const limit = cgroupCpuLimit(root);
  return limit === undefined ? { usable: machine, machine } : { usable: Math.max(1, Math.min(machine, Math.floor(limit))), machine, limit };
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The lowest quota ÷ period over this process's cgroup and its ancestors that are visible; undefined when none is set. */
function cgroupCpuLimit(root: string): number | undefined {
  const self = read(path.join(root, 'proc/self/cgroup')) ?? '';
  let lowest: number | undefined;
  const take = (q: number | undefined) => {
    if (q !== undefined && Number.isFinite(q) && q > 0) lowest = lowest === undefined ? q : Math.min(lowest, q);
  };
  const v2 = /^0::(.*)$/m.exec(self)?.[1];
  const v2Base = path.join(root, 'sys/fs/cgroup');
  if (v2 !== undefined && existsSync(path.join(v2Base, 'cgroup.controllers'))) {
    for (const dir of ancestry(v2Base, v2)) {
      const [max, period] = (read(path.join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
      if (max && max !== 'max' && period) take(Number(max) / Number(period));
    }
    return lowest;
  }
  // cgroup v1: the cpu controller's line (`4:cpu,cpuacct:/docker/…`), mounted as cpu or cpu,cpuacct.
  const v1 = /^\d+:([^:]*\bcpu\b[^:]*):(.*)$/m.exec(self);
  for (const mount of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
    const base = path.join(root, 'sys/fs/cgroup', mount);
    if (!existsSync(path.join(base, 'cpu.cfs_period_us'))) continue;
    for (const dir of ancestry(base, v1?.[2] ?? '/')) {
      const quota = Number(read(path.join(dir, 'cpu.cfs_quota_us')));
      const period = Number(read(path.join(dir, 'cpu.cfs_period_us')));
      if (quota > 0 && period > 0) take(quota / period);
    }
    return lowest;
  }
  return undefined;
}

/**
 * The directories from this process's cgroup up to the mount's root. Inside a container the
 * mount's root is the container's own cgroup while /proc/self/cgroup may still name the host's
 * path (cgroup v1 without a cgroup namespace): a path that is not there leaves the root alone.
 */
function ancestry(base: string, cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  const own = path.join(base, ...parts);
  if (parts.length === 0 || !existsSync(own)) return [base];
  return parts.map((_, i) => path.join(base, ...parts.slice(0, parts.length - i))).concat(base);
}
