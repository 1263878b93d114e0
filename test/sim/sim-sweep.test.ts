import { describe, expect, it } from 'vitest';
import { runSeed } from './simulation.js';

// The sweep runs in chunks so a failure names its seeds, and in two files (this one and
// sim-sweep-2.test.ts) so vitest spreads them over both cores.
const STEPS = 5000;
const FIRST_SEED = 1;
const SEEDS = 1000;
const CHUNK = 100;

describe('raft simulation sweep, seeds 1-1000', () => {
  for (let start = FIRST_SEED; start < FIRST_SEED + SEEDS; start += CHUNK) {
    it(`seeds ${start}-${start + CHUNK - 1} keep every safety invariant and recover`, () => {
      const failures: string[] = [];
      for (let seed = start; seed < start + CHUNK; seed++) {
        const r = runSeed(seed, STEPS);
        if (!r.ok) failures.push(`seed ${seed}: ${r.error} (replay: npm run sim -- --seed ${seed} --steps ${STEPS} --trace)`);
      }
      expect(failures).toEqual([]);
    });
  }
});
