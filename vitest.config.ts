import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // PostgreSQL and Redis: the configured ones, or throwaway instances when installed but not running.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only contend for CPU with onnxruntime and PostgreSQL.
    maxWorkers: 2,
  },
});
