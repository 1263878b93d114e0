// Membership changes one server at a time (Raft thesis, section 4.1), with learners (non-voting
// members that receive the log), as etcd does. A change takes effect when it is applied.
import { describe, expect, it } from 'vitest';

import { ConfChangeType, RaftErrorCode, StateRole } from '../../src/raft/index.js';
import { ELECTION_TICKS, errorCode, newCluster } from './harness.js';

describe('membership', () => {
  it('a learner receives the log but neither votes nor counts for commit', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.addNode('4');
    c.proposeConfChange('1', ConfChangeType.AddLearner, '4');
    c.deliverAll();

    // The new node learns the whole log, bootstrap entries included, and so the membership.
    for (const id of c.ids()) expect(c.status(id)).toMatchObject({ voters: ['1', '2', '3'], learners: ['4'] });
    expect(c.log('4', 1)).toEqual(c.log('1', 1));
    c.propose('1', 'for-all');
    c.deliverAll();
    expect(c.applied('4')).toEqual(['for-all']);

    // It does not count for commit: with 2 and 3 down, 1 and 4 hold the entry, yet it stays uncommitted.
    c.crash('2');
    c.crash('3');
    c.propose('1', 'needs-a-voter');
    c.deliverAll();
    expect(c.log('4', 7)).toEqual(['7@2 needs-a-voter']);
    expect(c.status('1').progress.get('4')?.match).toBe(7);
    expect(c.status('1').commit).toBe(6);
    c.restart('2');
    c.tick('1');
    expect(c.status('1').commit).toBe(7);

    // It never campaigns, and candidates do not ask it for a vote.
    c.isolate('4');
    c.tick('4', 5 * ELECTION_TICKS);
    expect(c.status('4')).toMatchObject({ term: 2, role: StateRole.Follower });
    c.heal();
    c.resetTranscript();
    c.campaign('2');
    c.deliverAll();
    expect(c.transcript().filter((l) => l.includes(' Vote '))).toEqual(['2 -> 1 Vote term=3 index=7 logTerm=2']);
    expect(c.leader()).toBe('2');
  });

  it('a promoted learner votes and counts for commit', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.addNode('4');
    c.proposeConfChange('1', ConfChangeType.AddLearner, '4');
    c.deliverAll();
    c.proposeConfChange('1', ConfChangeType.AddNode, '4');
    c.deliverAll();
    for (const id of c.ids()) expect(c.status(id)).toMatchObject({ voters: ['1', '2', '3', '4'], learners: [] });

    // Four voters: a quorum is three. With 3 down, nothing commits without 4.
    c.crash('3');
    c.cut('1', '4');
    c.propose('1', 'with-4');
    c.deliverAll();
    expect(c.applied('1')).toEqual([]);
    c.heal();
    c.tick('1');
    expect(c.applied('1')).toEqual(['with-4']);
    expect(c.applied('4')).toEqual(['with-4']);

    // And 4 can now be elected.
    c.elect('4');
    expect(c.term('4')).toBe(3);
  });

  it('after a follower is removed, the remaining members commit with their own quorum', () => {
    const c = newCluster(['1', '2', '3', '4']);
    c.elect('1');
    // Four voters: with 3 and 4 down, two of four is no quorum.
    c.crash('3');
    c.crash('4');
    c.propose('1', 'blocked');
    c.deliverAll();
    expect(c.applied('1')).toEqual([]);
    c.restart('3');
    c.tick('1');
    expect(c.applied('1')).toEqual(['blocked']);

    c.proposeConfChange('1', ConfChangeType.RemoveNode, '4');
    c.deliverAll();
    expect(c.status('1').voters).toEqual(['1', '2', '3']);

    // Three voters: 1 and 2 are a quorum.
    c.crash('3');
    c.propose('1', 'two-of-three');
    c.deliverAll();
    expect(c.applied('1')).toEqual(['blocked', 'two-of-three']);
    expect(c.applied('2')).toEqual(['blocked', 'two-of-three']);
  });

  it('a leader that removes itself steps down once the removal commits, and hands over at once with TimeoutNow', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.resetTranscript();

    c.proposeConfChange('1', ConfChangeType.RemoveNode, '1');
    c.deliverAll();

    expect(c.role('1')).toBe(StateRole.Follower);
    expect(c.status('1').voters).toEqual(['2', '3']);
    const t = c.transcript();
    const handover = t.findIndex((l) => /^1 -> [23] TimeoutNow term=2$/.test(l));
    expect(handover).toBeGreaterThanOrEqual(0);
    // The removal (5@2) was committed before the handover.
    expect(t.slice(0, handover).some((l) => l.startsWith('1 -> ') && l.includes('commit=5'))).toBe(true);

    // No tick passed, yet the cluster has a new leader in the next term, without 1.
    const leader = c.leader();
    expect(leader === '2' || leader === '3').toBe(true);
    expect(c.status(leader as string)).toMatchObject({ term: 3, voters: ['2', '3'] });
    c.propose(leader as string, 'after');
    c.deliverAll();
    expect(c.applied('2')).toEqual(['after']);
    expect(c.applied('3')).toEqual(['after']);
  });

  it('one change at a time: a second one while the first is unapplied is refused', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.addNode('4');
    c.addNode('5');

    c.proposeConfChange('1', ConfChangeType.AddLearner, '4');
    expect(errorCode(() => c.proposeConfChange('1', ConfChangeType.AddLearner, '5'))).toBe(
      RaftErrorCode.ConfChangePending,
    );

    c.deliverAll();
    c.proposeConfChange('1', ConfChangeType.AddLearner, '5');
    c.deliverAll();
    expect(c.status('1').learners).toEqual(['4', '5']);
  });
});
