// Runs the control-plane measurement probes (test/kube/*.probe.ts), which `npm test` leaves out.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/kube/*.probe.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
