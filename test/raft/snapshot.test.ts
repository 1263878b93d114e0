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
});
