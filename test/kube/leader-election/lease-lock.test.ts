// Leader election against real ketch-apiservers (ketch store): three in-process candidates on the
// real clock with short timings, through two apiservers. Checks the Lease as stored (client-go's
// fields, MicroTime format), one leader at a time, takeover after the leader stops renewing,
// release on stop, and that `kubectl get lease` shows the holder.

import { describe, expect, it } from 'vitest';
import { realClock } from '../../../src/kube/client/clock.js';
import type { Lease } from '../../../src/kube/client/coordination-types.js';
import { KubeClient } from '../../../src/kube/client/kube-client.js';
import { LEASES } from '../../../src/kube/client/resource-ref.js';
import { LeaderElector } from '../../../src/kube/leader-election/leader-elector.js';
import { LeaseLock } from '../../../src/kube/leader-election/lease-lock.js';
import { sleep } from '../../integration/cluster.js';
import { useApiCluster } from '../apiserver/apiserver-harness.js';

const MICRO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

interface Candidate {
  id: string;
  elector: LeaderElector;
  client: KubeClient;
  stop: AbortController;
  done: Promise<void>;
  terms: number;
}

function candidate(masters: string[], id: string, lockName: string): Candidate {
  const client = new KubeClient({ masters, requestTimeoutMs: 2000 });
  const stop = new AbortController();
  const c: Candidate = { id, client, stop, terms: 0, done: Promise.resolve(), elector: undefined as unknown as LeaderElector };
  c.elector = new LeaderElector({
    lock: new LeaseLock(client, 'kube-system', lockName, id),
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 500,
    releaseOnCancel: true,
    clock: realClock,
    callbacks: { onStartedLeading: () => void c.terms++ },
  });
  c.done = (async () => {
    while (!stop.signal.aborted) await c.elector.run(stop.signal);
  })();
  return c;
}

describe('leader election on real apiservers', () => {
  const api = useApiCluster('ketch', { replicas: 2 });

  it('one leader at a time; takeover after the leader is cut off; release on stop', async () => {
    const masters = [api().url(0), api().url(1)];
    const cands = ['a', 'b', 'c'].map((id) => candidate(masters, id, 'it-lock'));
    const reader = new KubeClient({ masters });
    let overlaps = 0;
    const watchdog = setInterval(() => {
      if (cands.filter((c) => c.elector.canAct()).length > 1) overlaps++;
    }, 20);
    try {
      const leaderOf = async (): Promise<Lease> => reader.get<Lease>(LEASES, 'kube-system', 'it-lock');
      let lease: Lease | undefined;
      for (let i = 0; i < 50 && (lease?.spec?.holderIdentity ?? '') === ''; i++) {
        await sleep(200);
        lease = await leaderOf().catch(() => undefined);
      }
      const first = lease?.spec?.holderIdentity ?? '';
      expect(['a', 'b', 'c']).toContain(first);
      expect(lease?.spec?.leaseDurationSeconds).toBe(3);
      expect(lease?.spec?.leaseTransitions).toBe(0);
      expect(lease?.spec?.acquireTime).toMatch(MICRO);
      expect(lease?.spec?.renewTime).toMatch(MICRO);
      await sleep(2000);
      const renewed = await leaderOf();
      expect(renewed.spec?.holderIdentity).toBe(first);
      expect(renewed.spec?.acquireTime).toBe(lease?.spec?.acquireTime);
      expect(Date.parse(renewed.spec?.renewTime ?? '')).toBeGreaterThan(Date.parse(lease?.spec?.renewTime ?? ''));
      const kubectl = await api().kubectlOk(['get', 'lease', '-n', 'kube-system', 'it-lock']);
      expect(kubectl).toMatch(new RegExp(`it-lock\\s+${first}\\s`));

      // Cut the leader off from both apiservers: it stops acting at its deadline, another takes over.
      const leader = cands.find((c) => c.id === first) as Candidate;
      leader.client.setFence(undefined);
      (leader.client as unknown as { masters: string[] }).masters = ['http://127.0.0.1:9'];
      const cutAt = Date.now();
      let next: Lease | undefined;
      for (let i = 0; i < 60; i++) {
        await sleep(200);
        next = await leaderOf();
        if (next.spec?.holderIdentity !== first) break;
      }
      const takeoverMs = Date.now() - cutAt;
      expect(next?.spec?.holderIdentity).not.toBe(first);
      expect(next?.spec?.leaseTransitions).toBe(1);
      expect(leader.elector.canAct()).toBe(false);
      // Not before the lease ran out on the others' clocks, not long after.
      expect(takeoverMs).toBeGreaterThanOrEqual(2000);
      expect(takeoverMs).toBeLessThan(3000 + 2 * 500 * 2.2 + 3000);

      // Release: the new leader stops, writes an empty holder, a third candidate takes over quickly.
      const second = cands.find((c) => c.id === next?.spec?.holderIdentity) as Candidate;
      second.stop.abort();
      await second.done;
      const stoppedAt = Date.now();
      let third: Lease | undefined;
      for (let i = 0; i < 50; i++) {
        third = await leaderOf();
        if ((third.spec?.holderIdentity ?? '') !== '' && third.spec?.holderIdentity !== second.id) break;
        await sleep(50);
      }
      const releaseMs = Date.now() - stoppedAt;
      expect(third?.spec?.holderIdentity).not.toBe(second.id);
      expect(third?.spec?.holderIdentity).not.toBe('');
      expect(releaseMs).toBeLessThan(500 * 2.2 + 1500);
      expect(overlaps).toBe(0);
    } finally {
      clearInterval(watchdog);
      for (const c of cands) c.stop.abort();
      await Promise.all(cands.map((c) => c.done));
      for (const c of cands) c.client.close();
      reader.close();
    }
  });
});
