import { defineConfig } from 'vitest/config';

/** The container tests (`npm run test:container`): need a Docker engine; `.ci/run` runs them after the suite. */
export default defineConfig({
  test: {
    include: ['test/container/**/*.e2e.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 900_000,
  },
});
