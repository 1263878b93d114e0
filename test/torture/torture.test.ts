// The short torture run of the test suite: three seeds of ketch with every nemesis, and one seed of
// real etcd 3.4 through the same harness and checker (which must find nothing there, or the checker
// cries wolf). Longer runs: `npm run torture -- --seeds N --duration SEC`.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { nemesisKinds } from './nemesis.js';
import { etcdBinary, ketchEntry, repoRoot } from './paths.js';
import { runTorture } from './torture-run.js';

const resultsRoot = join(repoRoot, 'torture-results', 'ci');
const okLine = 'ok: linearizable, 0 lost, 0 watch gaps';

describe('torture (short run)', () => {
  for (const seed of [101, 102, 103]) {
    it(`ketch, 3 members, every nemesis, seed ${seed}`, async () => {
      expect(existsSync(ketchEntry), `${ketchEntry} is missing: build first (npx tsc -p tsconfig.json)`).toBe(true);
      const report = await runTorture({ seed, durationSec: 40, nemeses: nemesisKinds, impl: 'ketch', members: 3, resultsRoot });
      expect(report.text.split('\n').at(-1), report.text).toBe(okLine);
      expect(report.ops).toBeGreaterThan(50);
    }, 300_000);
  }

  it('etcd 3.4, 3 members, every nemesis, seed 201: no anomaly reported', async () => {
    expect(existsSync(etcdBinary), `${etcdBinary} is missing: apt-get install etcd-server`).toBe(true);
    const report = await runTorture({ seed: 201, durationSec: 30, nemeses: nemesisKinds, impl: 'etcd', members: 3, resultsRoot });
    expect(report.text.split('\n').at(-1), report.text).toBe(okLine);
    expect(report.ops).toBeGreaterThan(50);
  }, 300_000);

  it('catches stale reads: etcd 3.4 with serializable reads under partitions is reported as not linearizable', async () => {
    const report = await runTorture({ seed: 202, durationSec: 20, nemeses: ['partition', 'pause'], impl: 'etcd', members: 3, resultsRoot, serializableReads: true });
    expect(report.ok).toBe(false);
    expect(report.text).toMatch(/FAIL \(seed 202\): NOT linearizable/);
    // The evidence is a short sub-history, not the whole run.
    const shortest = /shortest bad sub-history found \((\d+) ops\)/.exec(report.text);
    expect(Number(shortest?.[1])).toBeLessThanOrEqual(12);
  }, 300_000);
});
