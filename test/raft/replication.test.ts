// Log replication (Raft paper, Figure 2 "AppendEntries" and sections 5.3-5.4): commit on a quorum,
// forwarding of proposals, repair of a follower's conflicting tail, and why a stale leader can
// never commit.
import { describe, expect, it } from 'vitest';

import { RaftErrorCode, StateRole } from '../../src/raft/index.js';
import { errorCode, newCluster } from './harness.js';

describe('log replication', () => {
  it('a proposal is replicated, committed on a quorum and applied on every node', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.resetTranscript();

    c.propose('1', 'x');
    c.deliverAll();

    expect(c.transcript()).toEqual([
      '1 -> 2 App term=2 index=4 logTerm=2 entries=[5@2] commit=4',
      '1 -> 3 App term=2 index=4 logTerm=2 entries=[5@2] commit=4',
      '2 -> 1 AppResp term=2 index=5',
      '3 -> 1 AppResp term=2 index=5',
      // 1 and 2 held 5@2, a quorum: committed. The leader tells everyone the new commit index.
      '1 -> 2 App term=2 index=5 logTerm=2 entries=[] commit=5',
      '1 -> 3 App term=2 index=5 logTerm=2 entries=[] commit=5',
      '2 -> 1 AppResp term=2 index=5',
      '3 -> 1 AppResp term=2 index=5',
    ]);
    for (const id of ['1', '2', '3']) {
      expect(c.log(id, 4)).toEqual(['4@2', '5@2 x']);
      expect(c.applied(id)).toEqual(['x']);
    }
  });

  it('a follower forwards a proposal to the leader', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.resetTranscript();

    c.propose('3', 'from-3');
    c.deliverAll();

    expect(c.transcript().slice(0, 3)).toEqual([
      '3 -> 1 Prop entries=["from-3"]',
      '1 -> 2 App term=2 index=4 logTerm=2 entries=[5@2] commit=4',
      '1 -> 3 App term=2 index=4 logTerm=2 entries=[5@2] commit=4',
    ]);
    for (const id of ['1', '2', '3']) expect(c.applied(id)).toEqual(['from-3']);
  });

  it('a node that knows no leader refuses a proposal', () => {
    const c = newCluster(['1', '2', '3']);
    expect(errorCode(() => c.propose('2', 'nobody-to-take-it'))).toBe(RaftErrorCode.ProposalDropped);
  });

  it("a follower's conflicting uncommitted entries are overwritten by the leader's", () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    // 1 is cut off but still believes it leads: it appends entries nobody else will see.
    c.isolate('1');
    c.propose('1', 'lost-1');
    c.propose('1', 'lost-2');
    c.deliverAll();
    c.elect('2');
    c.propose('2', 'kept');
    c.deliverAll();
    expect(c.log('1', 4)).toEqual(['4@2', '5@2 lost-1', '6@2 lost-2']);
    expect(c.log('2', 4)).toEqual(['4@2', '5@3', '6@3 kept']);

    c.heal();
    c.resetTranscript();
    c.tick('2');

    expect(c.transcript()).toEqual([
      // The higher term makes 1 step down. 2 does not know yet what 1 holds, so it lets 1 commit
      // nothing (commit=0) until 1 has acknowledged entries.
      '2 -> 1 Heartbeat term=3 commit=0',
      '2 -> 3 Heartbeat term=3 commit=6',
      '1 -> 2 HeartbeatResp term=3',
      '3 -> 2 HeartbeatResp term=3',
      // 1's entry 4@2 matches, so 5@3 and 6@3 replace 1's 5@2 and 6@2.
      '2 -> 1 App term=3 index=4 logTerm=2 entries=[5@3,6@3] commit=6',
      '1 -> 2 AppResp term=3 index=6',
      '2 -> 1 App term=3 index=6 logTerm=3 entries=[] commit=6',
      '1 -> 2 AppResp term=3 index=6',
    ]);
    expect(c.role('1')).toBe(StateRole.Follower);
    expect(c.log('1', 4)).toEqual(['4@2', '5@3', '6@3 kept']);
    expect(c.applied('1')).toEqual(['kept']);
  });
});

describe('a stale leader', () => {
  it('commits nothing in a minority, and after the heal steps down and loses its uncommitted entries', () => {
    const c = newCluster(['1', '2', '3', '4', '5']);
    c.elect('1');
    c.partition(['1', '2'], ['3', '4', '5']);

    // 1 still leads {1, 2}: it appends, 2 even stores, but two of five is no quorum.
    c.propose('1', 'stale-1');
    c.deliverAll();
    c.tick('1', 30);
    c.propose('1', 'stale-2');
    c.deliverAll();
    expect(c.role('1')).toBe(StateRole.Leader);
    expect(c.log('2', 6)).toEqual(['6@2', '7@2 stale-1', '8@2 stale-2']);
    expect(c.status('1').commit).toBe(6);

    // The majority elects 3, which commits in term 3.
    c.elect('3');
    c.propose('3', 'fresh');
    c.deliverAll();
    expect(c.applied('3')).toEqual(['fresh']);

    c.heal();
    c.tick('3');

    expect(c.role('1')).toBe(StateRole.Follower);
    expect(c.status('1')).toMatchObject({ term: 3, lead: '3' });
    for (const id of c.ids()) {
      expect(c.log(id, 6)).toEqual(['6@2', '7@3', '8@3 fresh']);
      expect(c.applied(id)).toEqual(['fresh']);
    }
  });
});
