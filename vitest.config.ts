import { defineConfig } from 'vitest/config';

/**
 * Three projects (README "Tests"):
 *   unit         no services, no global setup, no built CLI: `npm run test:unit`, well under a minute;
 *   integration  the real CLI, emulator, Kafka, Redis and PostgreSQL (global setup finds or starts them);
 *   reliability  crash, outage, bad- and hostile-input scenarios checked against the emulator's ledger.
 */
const services = ['test/setup/services.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests spawn processes and brokers: keep parallelism modest on 2 cores.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: services } },
      { extends: true, test: { name: 'reliability', include: ['test/reliability/**/*.test.ts'], globalSetup: services } },
    ],
  },
});
