// The election state machine against an in-memory Lease (the protocol logic only; the
// integration tests run it against real apiservers): acquisition, renewal, expiry judged on the
// candidate's own clock, optimistic concurrency, loss at the renew deadline, release, and the
// central safety property: never two candidates allowed to act at the same instant.

import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/kube/client/clock.js';
import {
  LeaderElectionConfigError,
  LeaderElector,
  NotLeaderError,
  validateLeaderElectionConfig,
} from '../../../src/kube/leader-election/leader-elector.js';
import { SeededRandom } from '../../../src/util/prng.js';
import { ManualClock, type PausableClock } from '../manual-clock.js';
import { FakeLeaseStore } from './fake-lease-store.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

interface Candidate {
  id: string;
  elector: LeaderElector;
  stop: AbortController;
  done: Promise<void>;
  /** Leadership terms: start and (once lost) end, in manual-clock ms. */
  terms: { start: number; end?: number }[];
  clock: PausableClock;
}

function candidate(store: FakeLeaseStore, base: ManualClock, id: string, opts: { release?: boolean; seed?: number; leaseMs?: number; renewMs?: number; retryMs?: number } = {}): Candidate {
  const clock = base.pausable();
  const rng = new SeededRandom(opts.seed ?? id.length * 7919);
  const terms: { start: number; end?: number }[] = [];
  const stop = new AbortController();
  const elector = new LeaderElector({
    lock: store.lock(id),
    leaseDurationMs: opts.leaseMs ?? 15_000,
    renewDeadlineMs: opts.renewMs ?? 10_000,
    retryPeriodMs: opts.retryMs ?? 2_000,
    releaseOnCancel: opts.release ?? false,
    clock,
    random: () => rng.next(),
    callbacks: {
      onStartedLeading: (signal) => {
        const term: { start: number; end?: number } = { start: base.nowMs() };
        terms.push(term);
        signal.addEventListener('abort', () => (term.end = base.nowMs()), { once: true });
      },
    },
  });
  // As the programs do: after a lost term, campaign again until stopped.
  const done = (async () => {
    while (!stop.signal.aborted) await elector.run(stop.signal);
  })();
  return { id, elector, stop, done, terms, clock };
}

function actors(cands: Candidate[]): string[] {
  return cands.filter((c) => c.elector.canAct()).map((c) => c.id);
}

describe('config validation (client-go NewLeaderElector)', () => {
  it('requires LeaseDuration > RenewDeadline > 1.2 × RetryPeriod', () => {
    expect(() => validateLeaderElectionConfig({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toThrow(/leaseDuration must be greater than renewDeadline/);
    expect(() => validateLeaderElectionConfig({ leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 })).toThrow(/renewDeadline must be greater than retryPeriod\*JitterFactor/);
    expect(() => validateLeaderElectionConfig({ leaseDurationMs: 15_000, renewDeadlineMs: 2_401, retryPeriodMs: 2_000 })).not.toThrow();
    expect(() => validateLeaderElectionConfig({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 })).toThrow(LeaderElectionConfigError);
  });
});

describe('LeaderElector against an in-memory Lease', () => {
  it('creates the record when there is none, with client-go fields, and renews every retry period', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a');
    await clock.advance(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.elector.canAct()).toBe(true);
    expect(store.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaderTransitions: 0 });
    expect(store.record?.renewTime).toMatch(MICRO_TIME);
    expect(store.record?.acquireTime).toBe(store.record?.renewTime);
    expect(store.record?.renewTime).toBe('2024-01-01T00:00:00.000000Z');
    const acquired = store.record?.acquireTime;

    await clock.advance(7_000);
    // Renewals at 2 s, 4 s, 6 s keep acquireTime and move renewTime.
    expect(store.writes.map((w) => w.record.renewTime)).toEqual([
      '2024-01-01T00:00:00.000000Z',
      '2024-01-01T00:00:02.000000Z',
      '2024-01-01T00:00:04.000000Z',
      '2024-01-01T00:00:06.000000Z',
    ]);
    expect(store.record?.acquireTime).toBe(acquired);
    expect(store.record?.leaderTransitions).toBe(0);
    a.stop.abort();
    await clock.advance(0);
    await a.done;
  });

  it('a second candidate never takes a lease that is being renewed', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a');
    await clock.advance(0);
    const b = candidate(store, clock, 'b');
    await clock.advanceBy(120_000, 500, () => expect(actors([a, b])).toEqual(['a']));
    expect(b.terms).toEqual([]);
    expect(b.elector.getLeader()).toBe('a');
    expect(store.record?.leaderTransitions).toBe(0);
    a.stop.abort();
    b.stop.abort();
    await clock.advance(10_000);
    await Promise.all([a.done, b.done]);
  });

  it('judges expiry on its own clock from when the record last changed, not from renewTime', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    // A record written by a holder whose clock was years behind: by renewTime it is long expired.
    store.write({ holderIdentity: 'ghost', leaseDurationSeconds: 15, acquireTime: '2001-01-01T00:00:00.000000Z', renewTime: '2001-01-01T00:00:00.000000Z', leaderTransitions: 4 });
    const b = candidate(store, clock, 'b', { seed: 1 });
    await clock.advanceBy(14_900, 100, () => expect(b.elector.canAct()).toBe(false));
    // Acquired at the first retry at or after 15 s on b's clock (retry interval ≤ 2 s × 2.2).
    await clock.advanceBy(4_500, 100);
    expect(b.terms.length).toBe(1);
    expect(b.terms[0]?.start).toBeGreaterThanOrEqual(15_000);
    expect(b.terms[0]?.start).toBeLessThanOrEqual(15_000 + 4_400);
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaderTransitions: 5 });
    b.stop.abort();
    await clock.advance(0);
    await b.done;
  });

  it('a leader that cannot renew stops acting at its renew deadline, before anyone may take over', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a');
    await clock.advance(0);
    const b = candidate(store, clock, 'b');
    await clock.advance(5_000);
    const lastGood = store.writes.filter((w) => w.record.holderIdentity === 'a').at(-1);
    expect(lastGood?.record.renewTime).toBe('2024-01-01T00:00:04.000000Z');
    store.unreachable.add('a');
    await clock.advanceBy(40_000, 100, () => expect(actors([a, b]).length).toBeLessThanOrEqual(1));
    // a renewed last at 4 s: it gave up at 4 s + 10 s; b took over after 4 s + 15 s at the earliest.
    expect(a.terms[0]?.end).toBe(14_000);
    expect(() => a.elector.fence()).toThrow(NotLeaderError);
    expect(b.terms.length).toBe(1);
    expect(b.terms[0]?.start).toBeGreaterThanOrEqual(19_000);
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaderTransitions: 1 });
    a.stop.abort();
    b.stop.abort();
    await clock.advance(10_000);
    await Promise.all([a.done, b.done]);
  });

  it('a leader whose requests hang loses at the deadline even with a request in flight', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a');
    await clock.advance(1_000);
    store.hang('a');
    await clock.advanceBy(15_000, 100);
    expect(a.terms[0]?.end).toBe(10_000);
    expect(a.elector.canAct()).toBe(false);
    a.stop.abort();
    await clock.advance(1_000);
    await a.done;
  });

  it('a paused leader refuses to act the moment it resumes, before any of its timers run', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a');
    await clock.advance(0);
    const b = candidate(store, clock, 'b');
    await clock.advance(3_000);
    // SIGSTOP: a's timers and answers are held; time goes on.
    a.clock.paused = true;
    store.pause('a');
    await clock.advanceBy(30_000, 100, () => expect(actors([a, b]).length).toBeLessThanOrEqual(1));
    expect(b.terms.length).toBe(1);
    // SIGCONT: the first thing a's work does is to check the fence, synchronously.
    a.clock.paused = false;
    store.resume('a');
    expect(a.elector.canAct()).toBe(false);
    expect(() => a.elector.fence()).toThrow(NotLeaderError);
    expect(a.terms[0]?.end).toBeDefined();
    await clock.advanceBy(20_000, 100, () => expect(actors([a, b])).toEqual(['b']));
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.getLeader()).toBe('b');
    expect(store.record?.holderIdentity).toBe('b');
    a.stop.abort();
    b.stop.abort();
    await clock.advance(10_000);
    await Promise.all([a.done, b.done]);
  });

  it('release on stop writes an empty holder with leaseDurationSeconds 1; another takes over within one jittered retry', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    const a = candidate(store, clock, 'a', { release: true });
    await clock.advance(0);
    const b = candidate(store, clock, 'b', { seed: 3 });
    await clock.advance(6_000);
    const stoppedAt = clock.nowMs();
    a.stop.abort();
    await clock.advance(0);
    await a.done;
    expect(store.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaderTransitions: 0 });
    expect(a.elector.canAct()).toBe(false);
    await clock.advanceBy(5_000, 100, () => expect(actors([a, b]).length).toBeLessThanOrEqual(1));
    expect(b.terms.length).toBe(1);
    expect((b.terms[0]?.start ?? Infinity) - stoppedAt).toBeLessThanOrEqual(2_000 * 2.2);
    expect(store.record).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 15, leaderTransitions: 1 });
    b.stop.abort();
    await clock.advance(1_000);
    await b.done;
  });

  it('optimistic concurrency: candidates racing for an expired lease produce one winner', async () => {
    const clock = new ManualClock();
    const store = new FakeLeaseStore();
    store.write({ holderIdentity: 'ghost', leaseDurationSeconds: 15, acquireTime: '2024-01-01T00:00:00.000000Z', renewTime: '2024-01-01T00:00:00.000000Z', leaderTransitions: 0 });
    // Identical seeds: their retries fall at the same instants, so they race on every poll.
    const cands = ['x', 'y', 'z'].map((id) => candidate(store, clock, id, { seed: 42 }));
    await clock.advanceBy(30_000, 50, () => expect(actors(cands).length).toBeLessThanOrEqual(1));
    const leaders = cands.filter((c) => c.terms.length > 0);
    expect(leaders.length).toBe(1);
    expect(store.record?.leaderTransitions).toBe(1);
    for (const c of cands) c.stop.abort();
    await clock.advance(10_000);
    await Promise.all(cands.map((c) => c.done));
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`three candidates under random faults never act at the same time (seed ${seed})`, async () => {
      const clock = new ManualClock();
      const store = new FakeLeaseStore();
      const rng = new SeededRandom(seed);
      const cands = ['a', 'b', 'c'].map((id, i) => candidate(store, clock, id, { seed: seed * 10 + i, release: true }));
      let terms = 0;
      for (let step = 0; step < 200; step++) {
        // Faults: cut off, hang, pause (SIGSTOP) or heal one candidate for a while.
        const c = rng.pick(cands);
        const fault = rng.int(5);
        store.unreachable.delete(c.id);
        store.unhang(c.id);
        if (c.clock.paused) {
          c.clock.paused = false;
          store.resume(c.id);
        }
        if (fault === 0) store.unreachable.add(c.id);
        else if (fault === 1) store.hang(c.id);
        else if (fault === 2) {
          c.clock.paused = true;
          store.pause(c.id);
        }
        await clock.advanceBy(1_000 + rng.int(20_000), 100, () => expect(actors(cands).length).toBeLessThanOrEqual(1));
      }
      for (const c of cands) {
        store.unreachable.delete(c.id);
        store.unhang(c.id);
        c.clock.paused = false;
        store.resume(c.id);
        terms += c.terms.length;
      }
      // (A paused leader's term signal fires only once it runs again; what must never overlap is
      // the permission to act, checked above after every event.)
      expect(terms).toBeGreaterThan(1);
      // Once healed, someone leads again.
      await clock.advanceBy(40_000, 100, () => expect(actors(cands).length).toBeLessThanOrEqual(1));
      expect(actors(cands).length).toBe(1);
      for (const c of cands) c.stop.abort();
      await clock.advance(20_000);
      await Promise.all(cands.map((c) => c.done));
    });
  }
});

// Keeps the Clock import meaningful for readers: the elector sees only the interface.
export type { Clock };
