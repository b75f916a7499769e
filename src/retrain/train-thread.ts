import { parentPort, workerData } from 'node:worker_threads';
import { toThreadError } from '../lib/worker.js';
import { ingestAndTrain, type TrainJob } from './train-again.js';

/**
 * Worker-thread side of a retrain's training (train-off-thread.ts): reads the new data and
 * trains the candidate here, so the server a planned retrain runs in goes on answering.
 */
const port = parentPort!;

ingestAndTrain(workerData as TrainJob, (message) => port.postMessage({ progress: message })).then(
  (result) => port.postMessage({ result }),
  (e: unknown) => port.postMessage(toThreadError(e)),
);
