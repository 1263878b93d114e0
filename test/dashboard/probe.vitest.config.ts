// Runs the dashboard measurement probe (test/dashboard/*.probe.ts), which `npm test` leaves out.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/dashboard/*.probe.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 10 * 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
