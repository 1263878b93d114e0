// Leadership transfer (Raft thesis, section 3.10): the leader brings the target up to date, then
// tells it to campaign at once (TimeoutNow), so the handover costs no election timeout.
import { describe, expect, it } from 'vitest';

import { RaftErrorCode, StateRole } from '../../src/raft/index.js';
import { ELECTION_TICKS, errorCode, newCluster } from './harness.js';

describe('leader transfer', () => {
  it('to an up-to-date follower: it is elected in the next term without waiting for a timeout', () => {
    // Pre-vote and check-quorum on: the transfer must get past both.
    const c = newCluster(['1', '2', '3'], { preVote: true, checkQuorum: true });
    c.elect('1');
    c.resetTranscript();

    c.transferLeader('1', '2');
    c.deliverAll();

    expect(c.transcript().slice(0, 5)).toEqual([
      '1 -> 2 TimeoutNow term=2',
      '2 -> 1 Vote term=3 index=4 logTerm=2 ctx=transfer',
      '2 -> 3 Vote term=3 index=4 logTerm=2 ctx=transfer',
      '1 -> 2 VoteResp term=3',
      '3 -> 2 VoteResp term=3',
    ]);
    expect(c.leader()).toBe('2');
    expect(c.term('2')).toBe(3);
    expect(c.status('1')).toMatchObject({ role: StateRole.Follower, lead: '2' });
  });

  it('a follower may ask for the transfer; the request goes to the leader', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.resetTranscript();

    c.transferLeader('3', '3');
    c.deliverAll();

    expect(c.transcript().slice(0, 2)).toEqual(['3 -> 1 TransferLeader term=2', '1 -> 3 TimeoutNow term=2']);
    expect(c.leader()).toBe('3');
  });

  it('to a lagging follower: the leader first catches it up, then hands over', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('3');
    c.propose('1', 'x');
    c.propose('1', 'y');
    c.deliverAll();
    expect(c.log('3', 4)).toEqual(['4@2']);
    c.heal();
    c.resetTranscript();

    c.transferLeader('1', '3');
    c.deliverAll();

    const t = c.transcript();
    const caughtUp = t.indexOf('3 -> 1 AppResp term=2 index=6');
    const timeoutNow = t.indexOf('1 -> 3 TimeoutNow term=2');
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    expect(t.slice(0, timeoutNow).some((l) => l.startsWith('1 -> 3 App') && l.includes('entries=[5@2,6@2]'))).toBe(
      true,
    );
    expect(c.leader()).toBe('3');
    expect(c.term('3')).toBe(3);
    expect(c.applied('3')).toEqual(['x', 'y']);
  });

  it('proposals are dropped while a transfer is in progress', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');

    c.transferLeader('1', '2');
    // The TimeoutNow is on its way; the leader takes nothing new that it would have to hand over.
    expect(c.status('1').transferee).toBe('2');
    expect(errorCode(() => c.propose('1', 'during'))).toBe(RaftErrorCode.ProposalDropped);

    c.deliverAll();
    expect(c.leader()).toBe('2');
    c.propose('2', 'after');
    c.deliverAll();
    for (const id of c.ids()) expect(c.applied(id)).toEqual(['after']);
  });

  it('a transfer to an unreachable node is abandoned after an election timeout', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('3');

    c.transferLeader('1', '3');
    c.deliverAll();
    c.tick('1', ELECTION_TICKS - 1);
    expect(c.status('1').transferee).toBe('3');
    expect(errorCode(() => c.propose('1', 'too-early'))).toBe(RaftErrorCode.ProposalDropped);

    c.tick('1');
    expect(c.status('1')).toMatchObject({ transferee: '', role: StateRole.Leader, term: 2 });
    c.propose('1', 'back-to-work');
    c.deliverAll();
    expect(c.applied('2')).toEqual(['back-to-work']);
  });
});
