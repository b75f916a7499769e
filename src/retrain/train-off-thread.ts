import { fromThreadError, startSiblingWorker, type ThreadError } from '../lib/worker.js';
import type { TrainedAgain, TrainJob } from './train-again.js';

type Message = { progress: string } | { result: TrainedAgain } | ThreadError;

/**
 * Read the data and train the candidate on a thread of its own (train-thread.ts). Training is
 * synchronous: on the thread that answers requests, a planned retrain held every request, and
 * /healthz, for as long as it trained (a second for 15,000 rows, minutes for millions). The
 * thread ends with the job; one that dies (out of memory) fails the retrain with its reason.
 * The signal stops it mid-way.
 */
export function trainOffThread(job: TrainJob, say: (message: string) => void, signal?: AbortSignal): Promise<TrainedAgain> {
  return new Promise<TrainedAgain>((resolve, reject) => {
    let settled = false;
    // Aborted (shutdown, Ctrl-C): the thread is stopped where it is and the run fails with the signal's reason.
    const onAbort = () => {
      void w.terminate();
      settle(() => reject(signal!.reason));
    };
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    const w = startSiblingWorker(import.meta.url, 'train-thread', job);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    w.on('message', (m: Message) => {
      if ('progress' in m) say(m.progress);
      else if ('result' in m) settle(() => resolve(m.result));
      else settle(() => reject(fromThreadError(m)));
    });
    w.on('error', (e) => settle(() => reject(new Error(`the training thread failed: ${e.message}`))));
    w.on('exit', (code) => settle(() => reject(new Error(`the training thread stopped (exit code ${code}) before it finished`))));
  });
}
