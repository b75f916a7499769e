import { readFileSync } from 'node:fs';

/**
 * The CPU and memory limits of the container this process runs in, from cgroup v2
 * (`cpu.max`: "quota period" or "max"; `memory.max`: bytes or "max"), with cgroup v1 as a
 * fallback. Read at scrape time: limits can change without a restart (a VPA, `docker update`).
 * No limit, or no cgroup filesystem: nothing.
 */
export function containerLimits(root = '/sys/fs/cgroup'): { cpuCores?: number; memoryBytes?: number } {
  const read = (file: string) => {
    try {
      return readFileSync(`${root}/${file}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const out: { cpuCores?: number; memoryBytes?: number } = {};
  const cpu = read('cpu.max');
  if (cpu) {
    const [quota, period] = cpu.split(/\s+/);
    if (quota !== 'max' && Number(period) > 0) out.cpuCores = Number(quota) / Number(period);
  } else {
    const quota = Number(read('cpu/cpu.cfs_quota_us'));
    const period = Number(read('cpu/cpu.cfs_period_us'));
    if (quota > 0 && period > 0) out.cpuCores = quota / period;
  }
  const mem = read('memory.max') ?? read('memory/memory.limit_in_bytes');
  // cgroup v1 reports "no limit" as a huge number (page-rounded 2^63).
  if (mem && mem !== 'max' && Number(mem) > 0 && Number(mem) < 2 ** 60) out.memoryBytes = Number(mem);
  return out;
}
