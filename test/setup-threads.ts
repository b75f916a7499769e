import path from 'node:path';
import { runThreadsFromBuild } from '../src/lib/worker.js';
import { REPO_ROOT } from './helpers/fixtures.js';

// Worker threads (the SQLite audit writer, off-thread scoring and training) run their bundled
// modules in dist/bin, which the global setup has just built from these sources, instead of the
// sources through tsx: about half a second of CPU less for each of the suite's hundred-odd threads.
runThreadsFromBuild(path.join(REPO_ROOT, 'dist', 'bin'));
