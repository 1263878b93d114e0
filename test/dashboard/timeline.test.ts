import { describe, expect, it } from 'vitest';
import type { LeaseView, NodeView, StoreView, TimelineEntry } from '../../src/launcher/dashboard/dashboard-types.js';
import { Timeline } from '../../src/launcher/dashboard/timeline.js';

function store(name: string, over: Partial<StoreView> = {}): StoreView {
  return { name, pid: 100, state: 'up', url: '', leader: false, partitioned: false, term: 2, ...over };
}

function node(name: string, ready: NodeView['ready'], readyReason?: string): NodeView {
  return { name, ready, ...(readyReason === undefined ? {} : { readyReason }), problems: [], unschedulable: false, pods: {}, podNames: [] };
}

/** The texts a sequence of observations adds to a fresh timeline. */
function texts(entries: TimelineEntry[]): string[] {
  return entries.map((e) => `${e.kind}: ${e.text}`);
}

describe('dashboard timeline', () => {
  it('records the leader, its loss when it is killed, and the election that follows with how long it took', () => {
    const pushed: TimelineEntry[] = [];
    const t = new Timeline((e) => pushed.push(e));
    t.observeStores([store('s1', { leader: true }), store('s2'), store('s3')], [], 1_000);
    t.observeStores([store('s1', { leader: true }), store('s2'), store('s3')], [], 2_000);
    t.observeStores([store('s1', { state: 'down', leader: false }), store('s2'), store('s3')], [], 3_000);
    t.observeStores([store('s1', { state: 'down' }), store('s2', { leader: true, term: 3 }), store('s3', { term: 3 })], [], 4_500);
    expect(texts(t.entries())).toEqual([
      'leader: s1 is the leader (term 2)',
      'member: s1 went down (the leader)',
      'election: no leader (s1 no longer leads)',
      'leader: s2 elected leader in term 3 (was s1), 2.5 s after s1 was last seen leading',
    ]);
    expect(t.entries().map((e) => e.term)).toEqual([2, undefined, 2, 3]);
    expect(pushed).toEqual(t.entries());
    expect(pushed.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('does not count a paused leader, which still says it leads, and notes pause, resume, restart and cuts', () => {
    const t = new Timeline();
    t.observeStores([store('s1', { leader: true }), store('s2')], [], 0);
    // Paused: it keeps answering "leader" in its last probe, but a paused process leads nobody.
    t.observeStores([store('s1', { state: 'paused', leader: true }), store('s2')], [['s1', 's2']], 1000);
    t.observeStores([store('s1', { state: 'paused', leader: true }), store('s2', { leader: true, term: 3 })], [['s1', 's2']], 2000);
    t.observeStores([store('s1', { term: 3 }), store('s2', { leader: true, term: 3 })], [], 3000);
    t.observeStores([store('s1', { state: 'down' }), store('s2', { leader: true, term: 3 })], [], 4000);
    t.observeStores([store('s1', { pid: 200 }), store('s2', { leader: true, term: 4 })], [], 5000);
    expect(texts(t.entries())).toEqual([
      'leader: s1 is the leader (term 2)',
      'member: s1 paused (the leader)',
      'partition: peer links cut: s1-s2',
      'election: no leader (s1 no longer leads)',
      'leader: s2 elected leader in term 3 (was s1), 2.0 s after s1 was last seen leading',
      'member: s1 resumed',
      'partition: peer links healed',
      'member: s1 went down',
      'member: s1 is running again (pid 200)',
      'leader: s2 leads again in term 4',
    ]);
  });

  it('names the leader that went down even when a probe round in between saw it stop answering first', () => {
    const t = new Timeline();
    t.observeStores([store('s1', { leader: true }), store('s2')], [], 0);
    // Its Status failed while the process was still there (being killed).
    t.observeStores([store('s1', { leader: false, error: 'unavailable' }), store('s2')], [], 1000);
    t.observeStores([store('s1', { state: 'down' }), store('s2')], [], 2000);
    expect(texts(t.entries())).toEqual(['leader: s1 is the leader (term 2)', 'election: no leader (s1 no longer leads)', 'member: s1 went down (the leader)']);
  });

  it('with two members claiming to lead (an isolated old leader), names the one with the higher term', () => {
    const t = new Timeline();
    t.observeStores([store('s1', { leader: true, term: 2 }), store('s2', { leader: true, term: 3 }), store('s3', { term: 3 })], [], 0);
    expect(texts(t.entries())).toEqual(['leader: s2 is the leader (term 3)']);
  });

  it('starts with "no leader" when none leads at first', () => {
    const t = new Timeline();
    t.observeStores([store('s1'), store('s2')], [], 0);
    t.observeStores([store('s1', { leader: true, term: 5 }), store('s2', { term: 5 })], [], 2500);
    expect(texts(t.entries())).toEqual(['election: no leader', 'leader: s1 elected leader in term 5, 2.5 s after no leader was first seen']);
  });

  it('records Lease hand-overs and expiry, and node readiness changes after the first observation', () => {
    const t = new Timeline();
    const lease = (holder: string | undefined, current: boolean): LeaseView => ({ lease: 'kube-system/kube-scheduler', current, ...(holder === undefined ? {} : { holder, holderIdentity: `${holder}-id` }) });
    t.observeLeases([lease('sched-1', true)], 0);
    t.observeLeases([lease('sched-1', true)], 1000);
    t.observeLeases([lease('sched-1', false)], 2000);
    t.observeLeases([lease('sched-2', true)], 3000);
    t.observeNodes([node('w1', 'True'), node('w2', 'True')], 0);
    t.observeNodes([node('w1', 'Unknown', 'NodeStatusUnknown'), node('w2', 'True'), node('w3', 'False', 'KubeletNotReady')], 1000);
    t.observeNodes([node('w1', 'True'), node('w2', 'True'), node('w3', 'True')], 2000);
    expect(texts(t.entries())).toEqual([
      'lease: Lease kube-system/kube-scheduler held by sched-1',
      'lease: Lease kube-system/kube-scheduler: nobody holds it (sched-1 stopped renewing)',
      'lease: Lease kube-system/kube-scheduler: sched-2 took over',
      'node: node w1 readiness Unknown (NodeStatusUnknown)',
      'node: node w3 registered, NotReady (KubeletNotReady)',
      'node: node w1 Ready',
      'node: node w3 Ready',
    ]);
  });

  it('keeps the last 500 entries', () => {
    const t = new Timeline();
    for (let i = 0; i < 520; i++) t.add('action', `a${i}`, i);
    const entries = t.entries();
    expect(entries).toHaveLength(500);
    expect(entries[0]?.text).toBe('a20');
    expect(entries[499]?.seq).toBe(520);
  });
});
