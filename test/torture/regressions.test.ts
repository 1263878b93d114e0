// Bugs the torture suite found in ketch, each reduced to a direct reproduction.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { ketchEntry, repoRoot } from './paths.js';
import { CallError, RawClient } from './raw-client.js';
import { sleep, type Slot, TortureCluster } from './torture-cluster.js';

let cluster: TortureCluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});

async function threeMembers(name: string): Promise<TortureCluster> {
  expect(existsSync(ketchEntry), `${ketchEntry} is missing: build first`).toBe(true);
  const c = await TortureCluster.create({
    impl: 'ketch',
    members: 3,
    rootDir: join(repoRoot, 'torture-results', 'ci', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    snapshotCount: 1000,
    heartbeatMs: 100,
    electionTimeoutMs: 1000,
    token: `${name}-${process.pid}`,
  });
  cluster = c;
  await Promise.all(c.slots.map((s) => c.start(s)));
  expect(await c.waitHealthy(c.slots, 60_000)).toBe(true);
  return c;
}

describe('regressions found by the torture suite', () => {
  // Seed 4 (`npm run torture -- --seed 4 --duration 60`): every member exited with code 1 and
  // "EtcdError: etcdserver: request timed out" as an unhandled rejection. A Put on a member without
  // a leader waits for one; the proposal's own timeout rejected its result promise while nobody was
  // listening to it yet, and Node ends the process on an unhandled rejection.
  it('a write to a member that has no quorum fails with a timeout and the member keeps running', async () => {
    const c = await threeMembers('no-quorum-write');
    const [survivor, a, b] = c.slots as [Slot, Slot, Slot];
    await c.kill(a);
    await c.kill(b);
    // Past the election timeout the survivor knows it has no leader (check quorum).
    await sleep(2500);
    const client = new RawClient(survivor.clientUrl);
    try {
      const err = await client.put('k', 'v', { timeoutMs: 20_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CallError);
      expect((err as CallError).details).toMatch(/^etcdserver: (request timed out|no leader)/);
      // A membership change takes the same path (its own waiter and timeout); a learner skips the
      // quorum pre-check, so it really waits for a leader.
      const addErr = await client.memberAdd(['http://127.0.0.1:1'], 20_000, true).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(addErr).toBeInstanceOf(CallError);
      await sleep(500);
      expect(survivor.running, `the member died:\n${survivor.logPath}`).toBe(true);
      // And it serves again once the others are back.
      await c.start(a);
      await c.start(b);
      expect(await c.waitHealthy(c.slots, 60_000)).toBe(true);
      await client.put('k', 'v2', { timeoutMs: 10_000 });
    } finally {
      client.close();
    }
  }, 180_000);
});
