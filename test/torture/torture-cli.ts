#!/usr/bin/env node
// `npm run torture -- [--seed S] [--seeds N] [--duration SEC] [--nemesis LIST] [--impl ketch|etcd]
// [--members 3|5] [--results DIR] [--snapshot-count N] [--keep-data]`: runs the torture suite and
// exits 0 only if every run ends with `ok: linearizable, 0 lost, 0 watch gaps`.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { etcdBinary, ketchEntry, repoRoot } from './paths.js';
import { nemesisKinds, parseNemeses } from './nemesis.js';
import { runTorture } from './torture-run.js';

const usage = `usage: npm run torture -- [options]
  --seed S            first seed (default: random, printed)
  --seeds N           run N seeds: S, S+1, ... (default 1)
  --duration SEC      fault-injection time per run (default 60)
  --nemesis LIST      comma-separated: ${nemesisKinds.join(',')}; or all / none (default all)
  --impl ketch|etcd   the store under test (default ketch; etcd = ${etcdBinary})
  --members 3|5       cluster size (default 3)
  --snapshot-count N  members' --snapshot-count (default 100: snapshots, log compaction and installs during the run)
  --results DIR       results folder (default torture-results/)
  --keep-data         keep the members' data dirs of passing runs too
  --serializable-reads  sabotage: reads may be stale, so the checker must report the run as failed
`;

function fail(message: string): never {
  process.stderr.write(`torture: ${message}\n${usage}`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' },
        seeds: { type: 'string', default: '1' },
        duration: { type: 'string', default: '60' },
        nemesis: { type: 'string', default: 'all' },
        impl: { type: 'string', default: 'ketch' },
        members: { type: 'string', default: '3' },
        'snapshot-count': { type: 'string', default: '100' },
        results: { type: 'string', default: join(repoRoot, 'torture-results') },
        'keep-data': { type: 'boolean', default: false },
        'serializable-reads': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    return n;
  };
  const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : int('seed', values.seed, 0);
  const seeds = int('seeds', values.seeds, 1);
  const durationSec = int('duration', values.duration, 1);
  const members = int('members', values.members, 1);
  if (members !== 3 && members !== 5) fail('--members must be 3 or 5');
  const impl = values.impl;
  if (impl !== 'ketch' && impl !== 'etcd') fail(`--impl must be ketch or etcd, got ${JSON.stringify(impl)}`);
  let nemeses;
  try {
    nemeses = parseNemeses(values.nemesis);
  } catch (err) {
    fail((err as Error).message);
  }
  if (impl === 'etcd' && !existsSync(etcdBinary)) fail(`${etcdBinary} is missing (apt-get install etcd-server)`);
  if (impl === 'ketch' && !existsSync(ketchEntry)) fail(`${ketchEntry} is missing: build first (npm run build)`);

  let failed = 0;
  const verdicts: string[] = [];
  for (let s = seed; s < seed + seeds; s++) {
    try {
      const report = await runTorture({
        seed: s,
        durationSec,
        nemeses,
        impl,
        members,
        resultsRoot: values.results,
        snapshotCount: int('snapshot-count', values['snapshot-count'], 1),
        keepData: values['keep-data'],
        serializableReads: values['serializable-reads'],
        progress: (line) => process.stdout.write(`${line}\n`),
      });
      if (!report.ok) failed++;
      verdicts.push(`seed ${s}: ${report.text.split('\n').at(-1) ?? ''}`);
    } catch (err) {
      failed++;
      process.stdout.write(`${(err as Error).message}\n`);
      verdicts.push(`seed ${s}: ERROR ${(err as Error).message}`);
    }
    process.stdout.write('\n');
  }
  if (seeds > 1) {
    for (const v of verdicts) process.stdout.write(`${v}\n`);
    process.stdout.write(`${seeds - failed} passed, ${failed} failed\n`);
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`torture: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
