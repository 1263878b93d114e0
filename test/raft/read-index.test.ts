// Linearizable reads without writing to the log (Raft thesis, section 6.4): the leader records its
// commit index, confirms with one heartbeat round that a quorum still follows it, and only then
// returns the index; the application serves the read once it has applied that far.
import { describe, expect, it } from 'vitest';

import { MessageType } from '../../src/raft/index.js';
import { newCluster } from './harness.js';

describe('ReadIndex', () => {
  it('on the leader, a read is answered only after a quorum acknowledged a heartbeat carrying it', () => {
    const c = newCluster(['1', '2', '3', '4', '5']);
    c.elect('1');
    // 1 still reaches 2, but 2 acks and the leader itself make 2 of 5.
    c.partition(['1'], ['3', '4', '5']);
    c.resetTranscript();

    c.readIndex('1', 'r1');
    c.deliverAll();
    expect(c.transcript()).toEqual([
      '1 -> 2 Heartbeat term=2 commit=6 ctx=r1',
      '2 -> 1 HeartbeatResp term=2 ctx=r1',
    ]);
    expect(c.readStates('1')).toEqual([]);

    c.heal();
    c.resetTranscript();
    c.tick('1');
    // The next heartbeat round carries the pending read; the third ack makes a quorum.
    expect(c.transcript().slice(0, 6)).toEqual([
      '1 -> 2 Heartbeat term=2 commit=6 ctx=r1',
      '1 -> 3 Heartbeat term=2 commit=6 ctx=r1',
      '1 -> 4 Heartbeat term=2 commit=6 ctx=r1',
      '1 -> 5 Heartbeat term=2 commit=6 ctx=r1',
      '2 -> 1 HeartbeatResp term=2 ctx=r1',
      '3 -> 1 HeartbeatResp term=2 ctx=r1',
    ]);
    expect(c.readStates('1')).toEqual([{ index: 6, requestCtx: 'r1' }]);
  });

  it('a read on a follower is forwarded to the leader and answered to the follower', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.propose('1', 'x');
    c.deliverAll();
    c.resetTranscript();

    c.readIndex('2', 'f1');
    c.deliverAll();

    expect(c.transcript()).toEqual([
      '2 -> 1 ReadIndex ctx=f1',
      '1 -> 2 Heartbeat term=2 commit=5 ctx=f1',
      '1 -> 3 Heartbeat term=2 commit=5 ctx=f1',
      '2 -> 1 HeartbeatResp term=2 ctx=f1',
      '3 -> 1 HeartbeatResp term=2 ctx=f1',
      '1 -> 2 ReadIndexResp term=2 index=5 ctx=f1',
    ]);
    expect(c.readStates('2')).toEqual([{ index: 5, requestCtx: 'f1' }]);
    expect(c.readStates('1')).toEqual([]);
    // 2 may serve the read: it has applied up to the read index.
    expect(c.appliedIndex('2')).toBeGreaterThanOrEqual(5);
  });

  it('a brand-new leader holds reads until it has committed an entry of its own term', () => {
    const c = newCluster(['1', '2', '3']);
    // The new leader's empty entry does not get out yet.
    const hold = c.drop((m) => m.from === '1' && m.type === MessageType.App);
    c.elect('1');
    expect(c.status('1').commit).toBe(3);

    c.readIndex('1', 'n1');
    c.tick('1', 3);
    // Heartbeats are answered, but 1 does not know the cluster's commit index yet (it may be
    // above 3): answering 3 could return stale data.
    expect(c.transcript()).toContain('2 -> 1 HeartbeatResp term=2');
    expect(c.readStates('1')).toEqual([]);

    hold();
    c.tick('1');
    expect(c.status('1').commit).toBe(4);
    expect(c.readStates('1')).toEqual([{ index: 4, requestCtx: 'n1' }]);
  });

  it('a stale leader never answers a read', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    c.isolate('1');
    c.readIndex('1', 's1');
    c.tick('1', 3 * 10);
    expect(c.readStates('1')).toEqual([]);

    // Meanwhile the others moved on: answering s1 at 1 now would return stale data.
    c.elect('2');
    c.propose('2', 'newer');
    c.deliverAll();

    c.heal();
    c.tick('2');
    c.tick('1', 5);
    expect(c.status('1')).toMatchObject({ term: 3, lead: '2' });
    expect(c.readStates('1')).toEqual([]);
  });
});
