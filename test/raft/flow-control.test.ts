// Flow control and fast log backtracking (Raft paper, section 5.3 and its "optimization" note;
// etcd-io/raft's probe/replicate states and inflight window).
import { describe, expect, it } from 'vitest';

import { MessageType } from '../../src/raft/index.js';
import { type Cluster, newCluster } from './harness.js';

/** Appends carrying entries from `from` to `to`, sent at or after position `since` of the sent log. */
function appendsWithEntries(c: Cluster, from: string, to: string, since: number): number {
  return c
    .sent()
    .slice(since)
    .filter((s) => s.msg.type === MessageType.App && s.msg.from === from && s.msg.to === to && s.msg.entries.length > 0)
    .length;
}

describe('flow control', () => {
  it('with maxInflightMsgs 2, a leader never has more than 2 appends in flight to a partitioned follower', () => {
    const c = newCluster(['1', '2', '3'], { maxInflightMsgs: 2 });
    c.elect('1');
    const mark = c.sent().length;
    c.cut('1', '3');

    for (let i = 1; i <= 10; i++) {
      c.propose('1', `p${i}`);
      c.deliverAll();
      // None of them is acknowledged, so every one sent is still in flight.
      expect(appendsWithEntries(c, '1', '3', mark)).toBeLessThanOrEqual(2);
    }
    c.tick('1', 20);
    expect(appendsWithEntries(c, '1', '3', mark)).toBe(2);
    // 2 is reachable and gets everything.
    expect(c.applied('2')).toHaveLength(10);
  });

  it('after the partition heals, the follower whose window filled up is caught up', () => {
    const c = newCluster(['1', '2', '3'], { maxInflightMsgs: 2 });
    c.elect('1');
    c.cut('1', '3');
    for (let i = 1; i <= 10; i++) {
      c.propose('1', `p${i}`);
      c.deliverAll();
    }

    c.heal();
    c.tick('1', 3);
    expect(c.applied('3')).toEqual(c.applied('1'));
  });

  it('fast backtracking repairs a long divergent follower log in a few round trips, not one per entry', () => {
    const c = newCluster(['1', '2', '3']);
    c.elect('1');
    // 1, cut off, appends 50 entries of term 2 nobody else has.
    c.isolate('1');
    for (let i = 0; i < 50; i++) c.propose('1', `stale-${i}`);
    c.deliverAll();
    // The others go on for two terms and 61 entries; 3 ends up leading term 4, so it starts out
    // believing 1's log matches its own up to index 66.
    c.elect('2');
    for (let i = 0; i < 60; i++) c.propose('2', `fresh-${i}`);
    c.deliverAll();
    c.elect('3');
    expect(c.log('1', 54)).toEqual(['54@2 stale-49']);
    expect(c.log('3', 65)).toEqual(['65@3 fresh-59', '66@4']);

    c.heal();
    c.resetTranscript();
    c.tick('3');

    const rejections = c.transcript().filter((l) => l.startsWith('1 -> 3 AppResp') && l.includes('reject'));
    // 1 tells 3 its log ends at 54@2; 3 skips the whole of term 3 and resumes after 4@2.
    expect(rejections).toEqual(['1 -> 3 AppResp term=4 index=65 reject hint=54@2']);
    expect(c.transcript()).toContain('3 -> 1 App term=4 index=4 logTerm=2 entries=[5@3..66@4] commit=66');
    expect(c.log('1')).toEqual(c.log('3'));
    expect(c.applied('1')).toEqual(c.applied('3'));
    expect(c.applied('1')).toHaveLength(60);
  });
});
