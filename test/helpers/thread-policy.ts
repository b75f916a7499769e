import { execFileSync } from 'node:child_process';

/** The scheduling policy of a thread as the kernel reports it (util-linux chrt, independent of the code under test). */
export const policyOf = (tid: number) => /policy: (SCHED_\w+)/.exec(execFileSync('chrt', ['-p', String(tid)], { encoding: 'utf8' }))?.[1];
