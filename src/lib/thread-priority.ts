import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type { Logger } from './logger.js';

/** What a thread asked for its scheduling: `idle` (Linux SCHED_IDLE) or the process's `normal` policy. */
export type ThreadPriority = 'idle' | 'normal';

/** The calling thread's kernel id (Linux: `/proc/thread-self` links to `<pid>/task/<tid>`), or undefined elsewhere. */
export function ownThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

/**
 * Puts the calling thread under Linux's SCHED_IDLE policy: it runs on CPU time no normal thread
 * wants and never preempts one when it wakes. Node has no call for sched_setscheduler, so this
 * runs util-linux's `chrt` on the thread's id (lowering one's own priority needs no privilege;
 * raising it back would, which is why a thread that must run normally again is replaced, not
 * switched). Returns the thread id, or why the policy could not be set.
 */
export function idleThisThread(): { tid: number } | { error: string } {
  if (process.platform !== 'linux') return { error: `SCHED_IDLE exists only on Linux (this is ${process.platform})` };
  const tid = ownThreadId();
  if (tid === undefined) return { error: 'cannot read /proc/thread-self' };
  const r = spawnSync('chrt', ['--idle', '--pid', '0', String(tid)], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return { error: `cannot run chrt (util-linux): ${r.error.message}` };
  if (r.status !== 0) return { error: `chrt exited with ${r.status}: ${r.stderr.trim() || r.stdout.trim()}` };
  return { tid };
}

/** What a background thread reports once it has set its priority. */
export interface ThreadStart {
  priority: ThreadPriority;
  /** The thread's kernel id (Linux). */
  tid?: number;
  /** Why idle priority was asked for and not set. */
  error?: string;
}

/** Called first thing inside a worker thread: applies `asked` and says what the thread runs at. */
export function applyThreadPriority(asked: ThreadPriority): ThreadStart {
  if (asked === 'normal') return { priority: 'normal', tid: ownThreadId() };
  const r = idleThisThread();
  return 'error' in r ? { priority: 'normal', tid: ownThreadId(), error: r.error } : { priority: 'idle', tid: r.tid };
}

/** On the main thread, when a background thread has started: says so in the log when idle priority was asked for and not set. */
export function logThreadStart(s: ThreadStart, thread: string, log: Logger | undefined): void {
  if (s.error) log?.info({ reason: s.error }, `${thread} runs at normal priority: idle priority could not be set`);
}
