import { describe, expect, it } from 'vitest';
import { runSeed } from './simulation.js';

// The second half of the sweep in sim-sweep.test.ts, in its own file so vitest runs the halves in
// parallel on two cores.
const STEPS = 5000;
const FIRST_SEED = 1001;
const SEEDS = 1000;
const CHUNK = 100;

describe('raft simulation sweep, seeds 1001-2000', () => {
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
