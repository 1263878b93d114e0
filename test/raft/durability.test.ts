// Durability: a node promises only what is on its disk. Acknowledgements (votes, appends, the node's
// own included) leave only after the Ready that holds them is persisted (Raft paper, Figure 2:
// "Updated on stable storage before responding to RPCs").
import { describe, expect, it } from 'vitest';

import { MessageType, StateRole } from '../../src/raft/index.js';
import { formatMessage, newCluster } from './harness.js';

describe('durability', () => {
  it("a follower's append ack is sent only after persisting, in messagesAfterPersist", () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    // Without 3 nothing commits until 2's ack, so 2 receives exactly one append.
    c.isolate('3');
    c.hold('2');
    c.propose('1', 'x');
    c.deliverAll();

    const rd = c.takeReady('2');
    expect(rd.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['5@2']);
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist.map(formatMessage)).toEqual(['2 -> 1 AppResp term=2 index=5']);
    c.finishReady('2');
    c.release('2');
    c.deliverAll();
    expect(c.applied('2')).toEqual(['x']);
  });

  it('a vote grant is persisted with the vote before it is sent, in messagesAfterPersist', () => {
    const c = newCluster(['1', '2', '3']);
    c.isolate('3');
    c.hold('2');
    c.campaign('1');
    c.deliverAll();

    const rd = c.takeReady('2');
    expect(rd.hardState).toEqual({ term: 2, vote: '1', commit: 3 });
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist.map(formatMessage)).toEqual(['2 -> 1 VoteResp term=2']);
  });

  it('a follower that crashes before persisting a Ready forgets the vote of that Ready', () => {
    const c = newCluster(['1', '2', '3']);
    c.isolate('3');
    c.hold('2');
    c.campaign('1');
    c.deliverAll();
    expect(c.takeReady('2').hardState).toEqual({ term: 2, vote: '1', commit: 3 });

    c.crash('2');
    c.restart('2');
    c.deliverAll();
    // Nothing of it reached the disk, and the grant was never sent: 1 is still waiting for it.
    expect(c.disk('2').hardState).toEqual({ term: 1, vote: '', commit: 3 });
    expect(c.status('2')).toMatchObject({ term: 1, vote: '' });
    expect(c.transcript()).not.toContain('2 -> 1 VoteResp term=2');
    expect(c.role('1')).toBe(StateRole.Candidate);
  });

  it('a follower that crashes before persisting a Ready forgets its entries, and nothing commits on them', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    // Without 3, the leader needs 2's ack to commit anything.
    c.isolate('3');
    c.hold('2');
    c.propose('1', 'x');
    c.deliverAll();
    expect(c.takeReady('2').entries.map((e) => `${e.index}@${e.term}`)).toEqual(['5@2']);

    c.crash('2');
    c.restart('2');
    c.deliverAll();
    expect(c.log('2', 4)).toEqual(['4@2']);
    expect(c.status('1').commit).toBe(4);
    expect(c.applied('1')).toEqual([]);

    // The leader's next heartbeat finds 2 behind and sends the entry again.
    c.tick('1');
    expect(c.status('1').commit).toBe(5);
    expect(c.applied('1')).toEqual(['x']);
    expect(c.applied('2')).toEqual(['x']);
  });

  it('a candidate counts its own vote only after persisting it; crashing before that, it does not lead', () => {
    const c = newCluster(['1', '2', '3']);
    c.cut('1', '3');
    c.hold('1');
    c.campaign('1');
    const rd = c.takeReady('1');
    // Vote requests promise nothing, so they may leave before the disk write.
    expect(rd.hardState).toEqual({ term: 2, vote: '1', commit: 3 });
    expect(rd.messages.map(formatMessage)).toEqual([
      '1 -> 2 Vote term=2 index=3 logTerm=1',
      '1 -> 3 Vote term=2 index=3 logTerm=1',
    ]);
    c.deliverAll();

    // 2's grant arrived; with 3 unreachable, 1 also needs its own vote, which is not on disk yet.
    expect(c.transcript()).toContain('2 -> 1 VoteResp term=2');
    expect(c.role('1')).toBe(StateRole.Candidate);

    c.crash('1');
    c.restart('1');
    c.deliverAll();
    expect(c.status('1')).toMatchObject({ term: 1, vote: '', role: StateRole.Follower });
    expect(c.leader()).toBeUndefined();
  });

  it('the same candidate wins once its Ready is persisted and advanced', () => {
    const c = newCluster(['1', '2', '3']);
    c.cut('1', '3');
    c.hold('1');
    c.campaign('1');
    c.takeReady('1');
    c.deliverAll();
    expect(c.role('1')).toBe(StateRole.Candidate);

    c.finishReady('1');
    expect(c.role('1')).toBe(StateRole.Leader);
  });

  it("a leader counts its own append only after persisting it", () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('3');
    c.hold('1');
    c.propose('1', 'x');
    const rd = c.takeReady('1');
    expect(rd.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['5@2']);
    expect(rd.messages.filter((m) => m.type === MessageType.App).length).toBe(2);
    c.deliverAll();

    // 2 has acknowledged 5@2, but the leader's own copy is not on its disk yet: 1 of 3 is no quorum.
    expect(c.transcript()).toContain('2 -> 1 AppResp term=2 index=5');
    expect(c.status('1').commit).toBe(4);

    c.finishReady('1');
    expect(c.status('1').commit).toBe(5);
    c.release('1');
    c.deliverAll();
    expect(c.applied('1')).toEqual(['x']);
  });

  it('a restarted node recovers its term, vote, log and applied entries from its disk', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.propose('1', 'x');
    c.propose('1', 'y');
    c.deliverAll();
    const before = c.status('2');

    c.crash('2');
    c.restart('2');
    c.deliverAll();
    expect(c.status('2')).toMatchObject({
      term: before.term,
      vote: before.vote,
      commit: before.commit,
      lastIndex: before.lastIndex,
    });
    // Applied entries are not handed out again.
    expect(c.applied('2')).toEqual(['x', 'y']);
  });
});
