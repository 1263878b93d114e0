// Log compaction and InstallSnapshot (Raft paper, section 7): the leader snapshots its applied state
// and drops the log before it; a follower that needs the dropped entries gets the snapshot instead,
// then the entries after it.
import { describe, expect, it } from 'vitest';

import { newCluster } from './harness.js';

describe('log compaction and snapshots', () => {
  it('a follower that was down receives the snapshot, then the later entries, and ends in the same state', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.crash('3');
    for (const t of ['v1', 'v2', 'v3', 'v4', 'v5']) c.propose('1', t);
    c.deliverAll();
    expect(c.applied('1')).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);

    const snap = c.compact('1');
    expect(snap.metadata).toEqual({ index: 9, term: 2, confState: { voters: ['1', '2', '3'], learners: [] } });
    expect(c.status('1').firstIndex).toBe(10);
    c.propose('1', 'v6');
    c.deliverAll();

    // 3 restarts with its log ending at 4@2; entries 5..9 no longer exist on the leader.
    c.restart('3');
    expect(c.log('3', 4)).toEqual(['4@2']);
    c.resetTranscript();
    c.tick('1');

    const t = c.transcript();
    expect(t).toContain('1 -> 3 Snap term=2 snapshot=9@2');
    expect(t).toContain('3 -> 1 AppResp term=2 index=9');
    expect(t.indexOf('1 -> 3 App term=2 index=9 logTerm=2 entries=[10@2] commit=10')).toBeGreaterThan(
      t.indexOf('3 -> 1 AppResp term=2 index=9'),
    );
    expect(c.snapshotsInstalled('3')).toEqual([9]);
    expect(c.disk('3').snapshot?.metadata.index).toBe(9);
    expect(c.status('3')).toMatchObject({ firstIndex: 10, commit: 10, voters: ['1', '2', '3'] });
    expect(c.applied('3')).toEqual(c.applied('1'));

    // Later entries reach it the ordinary way.
    c.propose('1', 'v7');
    c.deliverAll();
    expect(c.applied('3')).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);

    // And it restarts from the snapshot on its disk.
    c.crash('3');
    c.restart('3');
    c.deliverAll();
    expect(c.status('3')).toMatchObject({ firstIndex: 10, lastIndex: 11, commit: 11 });
    expect(c.applied('3')).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
  });

  it('a new leader sends a follower behind its compacted log the snapshot after the first rejection', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.crash('3');
    for (const t of ['v1', 'v2', 'v3', 'v4', 'v5']) c.propose('1', t);
    c.deliverAll();
    c.compact('1');
    c.compact('2');
    c.propose('1', 'v6');
    c.propose('1', 'v7');
    c.deliverAll();
    // 2 leads term 3 with its log compacted up to 9; it first probes 3 right after 11@2.
    c.elect('2');
    expect(c.status('2')).toMatchObject({ firstIndex: 10, lastIndex: 12 });

    c.restart('3');
    c.resetTranscript();
    c.tick('2');

    // 3's log ends at 4@2. Its hint (4) lies in 2's compacted prefix, so 2 cannot find a common
    // entry in its log: the only way forward is the snapshot, and probing at 9 first is a wasted
    // round trip (3's hint already says it has nothing matching above 4).
    const t = c.transcript();
    expect(t.filter((l) => l.startsWith('3 -> 2 AppResp') && l.includes('reject'))).toEqual([
      '3 -> 2 AppResp term=3 index=11 reject hint=4@2',
    ]);
    expect(t).toContain('2 -> 3 Snap term=3 snapshot=9@2');
    expect(c.applied('3')).toEqual(c.applied('2'));
  });

  it('a follower only a little behind gets entries, not a snapshot, when the leader kept them', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.crash('3');
    for (const t of ['v1', 'v2', 'v3']) c.propose('1', t);
    c.deliverAll();
    // Snapshot at 7, but keep the log from 5 on.
    c.compact('1', 4);
    expect(c.status('1').firstIndex).toBe(5);

    c.restart('3');
    c.tick('1');
    expect(c.snapshotsInstalled('3')).toEqual([]);
    expect(c.applied('3')).toEqual(['v1', 'v2', 'v3']);
  });

  it('trimLog drops what every member holds from memory: a follower that was down still gets entries, not a snapshot', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.propose('1', 'v1');
    c.deliverAll();
    const before = c.status('1').lastIndex;
    expect(c.node('1').matchedByAll()).toBe(before);
    expect(c.node('2').matchedByAll()).toBeUndefined();
    c.crash('3');
    for (const t of ['v2', 'v3', 'v4']) c.propose('1', t);
    c.deliverAll();
    // 3 is down: the leader keeps everything after what 3 holds.
    expect(c.node('1').matchedByAll()).toBe(before);
    expect(c.node('1').trimLog(c.node('1').matchedByAll() as number)).toBe(before);
    expect(c.status('1').firstIndex).toBe(before + 1);
    // A cut beyond the applied index stops there; the snapshot recorded for it is at the applied index.
    expect(c.node('2').trimLog(1_000)).toBe(c.status('2').applied);
    expect(c.status('2').firstIndex).toBe(c.status('2').applied + 1);

    c.restart('3');
    c.tick('1');
    c.deliverAll();
    expect(c.snapshotsInstalled('3')).toEqual([]);
    expect(c.applied('3')).toEqual(['v1', 'v2', 'v3', 'v4']);
    // A later snapshot at the same applied index takes over the trim's.
    const applied = c.status('2').applied;
    expect(c.compact('2').metadata.index).toBe(applied);
  });
});
