import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/longest-first.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // PostgreSQL and Redis: the configured ones, or throwaway instances when installed but not running.
    globalSetup: ['test/global-setup.ts'],
    // Worker threads run their modules built in dist/bin (test/setup-threads.ts).
    setupFiles: ['test/setup-threads.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Three on two cores: many files spend much of their time waiting on child processes, servers
    // and outages (CLI runs, a PostgreSQL restart, Redis failover), which a third worker fills.
    // A clean run on the 2-core machine of 2026-12-06: 546 s against 625 s with two.
    maxWorkers: 3,
    // Test files share each worker's process instead of a fresh one per file: every file already
    // keeps its data apart (its own schema, database file, ports, ids), and importing the app's
    // modules again for each of 109 files cost about 120 s of the suite's 600 (all of it 455 s
    // after this, against 596 s in the same session).
    isolate: false,
    // The longest files first (test/longest-first.ts), so none starts late and ends the run alone.
    sequence: { sequencer: LongestFirst },
  },
});
