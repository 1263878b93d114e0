/**
 * Runs the Raft simulator over many seeds, or one seed with a readable trace.
 *   npm run sim -- --seed-start 1 --seeds 2000 [--steps 4000]
 *   npm run sim -- --seed 42 --trace
 * The last line is `N passed, F failed`.
 */
import { parseArgs } from 'node:util';
import { runSeed } from './simulation.js';

function main(): number {
  const { values } = parseArgs({
    options: {
      'seed-start': { type: 'string', default: '1' },
      seeds: { type: 'string', default: '200' },
      seed: { type: 'string' },
      steps: { type: 'string', default: '4000' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run sim -- [--seed-start S --seeds N | --seed X [--trace]] [--steps K]\n');
    return 0;
  }
  const steps = Number(values.steps);
  const seeds = values.seed !== undefined ? [Number(values.seed)] : range(Number(values['seed-start']), Number(values.seeds));
  if (seeds.some((s) => !Number.isSafeInteger(s)) || !Number.isSafeInteger(steps) || steps <= 0) {
    process.stderr.write('error: --seed, --seed-start, --seeds and --steps take integers\n');
    return 2;
  }
  const trace = values.trace ? (line: string) => process.stdout.write(`${line}\n`) : undefined;
  let passed = 0;
  let failed = 0;
  const started = Date.now();
  for (const seed of seeds) {
    const result = runSeed(seed, steps, trace);
    if (result.ok) {
      passed++;
    } else {
      failed++;
      process.stdout.write(`seed ${seed} FAILED: ${result.error}\n  replay: npm run sim -- --seed ${seed} --trace\n`);
    }
    if (values.seed !== undefined) process.stdout.write(`${JSON.stringify(result.stats)}\n`);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${seeds.length} seeds, ${steps} steps each, ${secs}s\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

process.exitCode = main();
