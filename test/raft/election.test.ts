// Leader election (Raft paper, Figure 2 "RequestVote" and section 5.4.1), pre-vote, check-quorum and
// leader stickiness (Raft thesis, sections 9.6 and 6.2). Every cluster starts from the etcd bootstrap
// log: one AddNode entry per member at term 1, so a 3-node log is 1@1 2@1 3@1 before any election.
import { describe, expect, it } from 'vitest';

import { MessageType, StateRole } from '../../src/raft/index.js';
import { ELECTION_TICKS, newCluster } from './harness.js';

describe('election', () => {
  it('a campaign elects a leader, which appends an empty entry of its term and commits it', () => {
    const c = newCluster(['1', '2', '3']);
    expect(c.term('1')).toBe(1);

    c.campaign('1');
    c.deliverAll();

    expect(c.transcript()).toEqual([
      '1 -> 2 Vote term=2 index=3 logTerm=1',
      '1 -> 3 Vote term=2 index=3 logTerm=1',
      '2 -> 1 VoteResp term=2',
      '3 -> 1 VoteResp term=2',
      '1 -> 2 App term=2 index=3 logTerm=1 entries=[4@2] commit=3',
      '1 -> 3 App term=2 index=3 logTerm=1 entries=[4@2] commit=3',
      '2 -> 1 AppResp term=2 index=4',
      '3 -> 1 AppResp term=2 index=4',
      '1 -> 2 App term=2 index=4 logTerm=2 entries=[] commit=4',
      '1 -> 3 App term=2 index=4 logTerm=2 entries=[] commit=4',
      '2 -> 1 AppResp term=2 index=4',
      '3 -> 1 AppResp term=2 index=4',
    ]);
    expect(c.role('1')).toBe(StateRole.Leader);
    for (const id of ['1', '2', '3']) {
      expect(c.status(id)).toMatchObject({ term: 2, vote: '1', lead: '1', commit: 4 });
    }
  });

  it('a node grants its vote once per term: a second candidate in the same term is rejected', () => {
    const c = newCluster(['1', '2', '3']);
    c.cut('1', '3');
    // Keep the new leader's appends from reaching 2, so 2's log stays exactly as long as 3's and only
    // its vote can be the reason it turns 3 down.
    c.drop((m) => m.type === MessageType.App);

    c.campaign('1');
    c.deliverAll();
    expect(c.role('1')).toBe(StateRole.Leader);
    expect(c.status('2')).toMatchObject({ term: 2, vote: '1' });
    expect(c.log('2')).toEqual(c.log('3'));

    c.resetTranscript();
    c.campaign('3');
    c.deliverAll();

    expect(c.transcript()).toEqual([
      '3 -> 2 Vote term=2 index=3 logTerm=1',
      '2 -> 3 VoteResp term=2 reject',
    ]);
    expect(c.status('2')).toMatchObject({ term: 2, vote: '1' });
    expect(c.role('3')).toBe(StateRole.Candidate);
  });

  it('a node whose log is shorter cannot win (election restriction)', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('3');
    c.propose('1', 'x');
    c.deliverAll();
    expect(c.applied('1')).toEqual(['x']);
    expect(c.log('3', 4)).toEqual(['4@2']);

    c.heal();
    c.resetTranscript();
    c.campaign('3');
    c.deliverAll();

    // 3's log ends at 4@2, the others' at 5@2: both refuse, although 3's term is the newest.
    expect(c.transcript()).toEqual([
      '3 -> 1 Vote term=3 index=4 logTerm=2',
      '3 -> 2 Vote term=3 index=4 logTerm=2',
      '1 -> 3 VoteResp term=3 reject',
      '2 -> 3 VoteResp term=3 reject',
    ]);
    expect(c.role('3')).toBe(StateRole.Follower);
    expect(c.leader()).toBeUndefined();

    // A node holding the committed entry can win, and 3 then catches up.
    c.elect('2');
    expect(c.term('2')).toBe(4);
    expect(c.applied('3')).toEqual(['x']);
  });

  it('a longer log from an older term loses to a shorter log from a newer term', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('1');
    for (const t of ['s1', 's2', 's3']) c.propose('1', t);
    c.deliverAll();
    c.elect('2');
    expect(c.log('1', 4)).toEqual(['4@2', '5@2 s1', '6@2 s2', '7@2 s3']);
    expect(c.log('3', 4)).toEqual(['4@2', '5@3']);

    // 2 goes down; 1 restarts (a leader cannot campaign) and rejoins.
    c.crash('2');
    c.crash('1');
    c.restart('1');
    c.heal();
    // 1's first try (term 3) is refused because 3 already voted in term 3; the second (term 4) is
    // refused on the log alone: 7@2 is longer than 3's 5@3 but older.
    c.campaign('1');
    c.deliverAll();
    c.resetTranscript();
    c.campaign('1');
    c.deliverAll();
    expect(c.transcript()).toEqual([
      '1 -> 3 Vote term=4 index=7 logTerm=2',
      '3 -> 1 VoteResp term=4 reject',
    ]);
    expect(c.leader()).toBeUndefined();

    // 3 wins with 1's vote and replaces 1's uncommitted tail.
    c.elect('3');
    expect(c.log('1', 4)).toEqual(['4@2', '5@3', '6@5']);
    expect(c.applied('1')).toEqual([]);
  });
});

describe('pre-vote', () => {
  it('an isolated node keeps its term, and on rejoining does not disrupt the leader', () => {
    const c = newCluster(['1', '2', '3'], { preVote: true });
    c.elect('1');
    expect(c.term('1')).toBe(2);

    c.isolate('3');
    c.tick('3', 10 * ELECTION_TICKS);
    // It asked many times whether it could win, but never started a real election.
    expect(c.role('3')).toBe(StateRole.PreCandidate);
    expect(c.term('3')).toBe(2);
    c.propose('1', 'while-away');
    c.deliverAll();

    c.heal();
    c.resetTranscript();
    c.tick('3', 2 * ELECTION_TICKS);

    const t = c.transcript();
    expect(t).toContain('3 -> 1 PreVote term=3 index=4 logTerm=2');
    expect(t).toContain('1 -> 3 PreVoteResp term=2 reject');
    expect(t).toContain('2 -> 3 PreVoteResp term=2 reject');
    expect(t.filter((l) => l.includes(' Vote '))).toEqual([]);
    expect(c.role('1')).toBe(StateRole.Leader);
    expect([c.term('1'), c.term('2'), c.term('3')]).toEqual([2, 2, 2]);

    // The leader's next heartbeat brings 3 back.
    c.tick('1');
    expect(c.status('3').lead).toBe('1');
    expect(c.applied('3')).toEqual(['while-away']);
  });

  it('without pre-vote the isolated node raises its term and deposes the leader when it rejoins', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('3');
    c.tick('3', 10 * ELECTION_TICKS);
    const raised = c.term('3');
    expect(raised).toBeGreaterThan(2);
    c.propose('1', 'while-away');
    c.deliverAll();

    c.heal();
    c.tick('3', 2 * ELECTION_TICKS);

    // 3 cannot win (its log is behind), but its higher term made the leader step down.
    expect(c.role('3')).not.toBe(StateRole.Leader);
    expect(c.role('1')).toBe(StateRole.Follower);
    expect(c.term('1')).toBeGreaterThan(raised);
    expect(c.leader()).toBeUndefined();
  });
});

describe('check-quorum', () => {
  it('a leader that still hears from a quorum keeps leading', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true });
    c.elect('1');
    c.tick('1', 10 * ELECTION_TICKS);
    expect(c.role('1')).toBe(StateRole.Leader);
    expect(c.term('1')).toBe(2);
  });

  it('an isolated leader steps down within an election timeout of losing its quorum', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true });
    c.elect('1');
    c.isolate('1');

    let ticks = 0;
    while (c.role('1') === StateRole.Leader && ticks < 10 * ELECTION_TICKS) {
      c.tick('1');
      ticks++;
    }
    // Activity is checked once per election timeout; the check that follows the last answers fails.
    expect(c.role('1')).toBe(StateRole.Follower);
    expect(ticks).toBeLessThanOrEqual(2 * ELECTION_TICKS);
    expect(c.status('1')).toMatchObject({ term: 2, lead: '' });
  });
});

describe('leader stickiness', () => {
  it('with check-quorum, a follower that heard from the leader recently ignores a higher-term candidate', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true });
    c.elect('1');
    c.isolate('3');
    c.tick('3', 3 * ELECTION_TICKS);
    const candidateTerm = c.term('3');
    expect(candidateTerm).toBeGreaterThan(2);

    c.heal();
    c.resetTranscript();
    c.campaign('3');
    c.deliverAll();

    // Nobody answers, and nobody adopts the candidate's term.
    expect(c.transcript()).toEqual([
      `3 -> 1 Vote term=${candidateTerm + 1} index=4 logTerm=2`,
      `3 -> 2 Vote term=${candidateTerm + 1} index=4 logTerm=2`,
    ]);
    expect(c.status('2')).toMatchObject({ term: 2, lead: '1', vote: '1' });
    expect(c.status('1')).toMatchObject({ term: 2, role: StateRole.Leader });
  });
});

describe('a follower that loses its leader\'s connection', () => {
  it('campaigns within a few ticks, and the other follower, which lost the leader too, elects it', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true, preVote: true });
    c.elect('1');
    c.crash('1');
    c.node('2').reportUnreachable('1');
    c.node('3').reportUnreachable('1');
    let ticks = 0;
    while (c.role('2') !== StateRole.Leader && c.role('3') !== StateRole.Leader && ticks < ELECTION_TICKS) {
      c.tick('2');
      c.tick('3');
      ticks++;
    }
    // A whole election timeout is at least ELECTION_TICKS; the suspicious followers need at most 3.
    expect(ticks).toBeLessThanOrEqual(3);
    expect([c.role('2'), c.role('3')]).toContain(StateRole.Leader);
    expect(c.term('2')).toBe(3);
  });

  it('does not unseat a leader the other follower still hears: its pre-vote is ignored, the next heartbeat brings it back', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true, preVote: true });
    c.elect('1');
    c.node('3').reportUnreachable('1');
    c.resetTranscript();
    for (let i = 0; i < 4; i++) c.tick('3');
    expect(c.role('3')).toBe(StateRole.PreCandidate);
    expect(c.transcript().filter((line) => line.includes('PreVoteResp'))).toEqual([]);
    c.tick('1');
    expect(c.status('3')).toMatchObject({ role: StateRole.Follower, lead: '1', term: 2 });
    expect(c.status('1')).toMatchObject({ role: StateRole.Leader, term: 2 });
    expect(c.status('2')).toMatchObject({ lead: '1', term: 2 });
  });

  it('ignores a report about a member that is not its leader', () => {
    const c = newCluster(['1', '2', '3'], { checkQuorum: true, preVote: true });
    c.elect('1');
    c.node('3').reportUnreachable('2');
    for (let i = 0; i < ELECTION_TICKS - 1; i++) c.tick('3');
    expect(c.status('3')).toMatchObject({ role: StateRole.Follower, lead: '1' });
  });
});
