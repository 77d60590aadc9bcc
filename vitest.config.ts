import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/services.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests spawn processes and brokers: keep parallelism modest on 2 cores.
    maxWorkers: 2,
  },
});
