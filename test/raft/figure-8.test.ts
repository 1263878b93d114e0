// Figure 8 of the Raft paper: a leader may not conclude that an entry from an earlier term is
// committed because it sits on a majority; only an entry of its own term is committed by counting
// replicas, and the earlier ones with it (section 5.4.2).
//
// Our logs start with the bootstrap entries 1..5@1 and every new leader appends an empty entry, so
// the figure's indices are shifted: the paper's index 1 is our 6@2 (1's empty entry, committed
// everywhere), its index 2 is our 7, its index 3 our 8. Servers S1..S5 are nodes '1'..'5'.
import { describe, expect, it } from 'vitest';

import { MessageType, StateRole } from '../../src/raft/index.js';
import { type Cluster, newCluster } from './harness.js';

const ALL = ['1', '2', '3', '4', '5'];

/** The logs from index 6 on, for every live node. */
function logs(c: Cluster): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const id of ALL) if (c.isUp(id)) out[id] = c.log(id, 6);
  return out;
}

function nobodyApplied(c: Cluster, text: string): boolean {
  return ALL.every((id) => !c.applied(id).includes(text));
}

/** Builds figure 8 (a) to (c) and returns the cluster at (c), with S5 down. */
function figure8c(): Cluster {
  // One entry per append, so S1 can ship 7@2 to a follower without its own-term 8@4.
  const c = newCluster(ALL, { maxSizePerMsg: 1 });

  // (a) S1 leads in term 2 and appends 7@2; only S2 receives it.
  c.elect('1');
  const onlyTo2 = c.drop((m) => m.from === '1' && m.type === MessageType.App && m.to !== '2');
  c.propose('1', 'a');
  c.deliverAll();
  onlyTo2();
  expect(logs(c)).toEqual({
    1: ['6@2', '7@2 a'],
    2: ['6@2', '7@2 a'],
    3: ['6@2'],
    4: ['6@2'],
    5: ['6@2'],
  });
  expect(c.status('1').commit).toBe(6);

  // (b) S1 crashes. S5 is elected in term 3 by S3, S4 and itself (S2's log is longer, so S2 says
  // no) and appends its empty entry 7@3, which reaches nobody before S5 crashes too.
  c.crash('1');
  const quiet5 = c.drop((m) => m.from === '5' && m.type === MessageType.App);
  c.resetTranscript();
  c.campaign('5');
  c.deliverAll();
  expect(c.transcript()).toEqual([
    '5 -> 2 Vote term=3 index=6 logTerm=2',
    '5 -> 3 Vote term=3 index=6 logTerm=2',
    '5 -> 4 Vote term=3 index=6 logTerm=2',
    '2 -> 5 VoteResp term=3 reject',
    '3 -> 5 VoteResp term=3',
    '4 -> 5 VoteResp term=3',
  ]);
  expect(c.status('5')).toMatchObject({ role: StateRole.Leader, term: 3 });
  expect(c.log('5', 6)).toEqual(['6@2', '7@3']);
  c.crash('5');
  quiet5();

  // (c) S1 restarts and is elected in term 4 (its try for term 3 fails: S3 and S4 voted for S5 in
  // term 3). It appends its empty entry 8@4 and continues replicating 7@2; 8@4 gets nowhere.
  c.restart('1');
  c.campaign('1');
  c.deliverAll();
  expect(c.status('1')).toMatchObject({ role: StateRole.Candidate, term: 3 });
  c.drop(
    (m) =>
      m.from === '1' &&
      m.type === MessageType.App &&
      m.entries.some((e) => e.term === 4) &&
      // Only appends the follower would accept carry 8@4 into its log; let the rejected ones
      // through so S1 finds out where each follower's log ends.
      c.node(m.to).term(m.index) === m.logTerm,
  );
  c.campaign('1');
  c.deliverAll();
  expect(c.status('1')).toMatchObject({ role: StateRole.Leader, term: 4 });
  return c;
}

describe('figure 8', () => {
  it('(c) a leader does not commit an entry of an earlier term although a majority stores it', () => {
    const c = figure8c();

    // The paper has 7@2 on S1, S2, S3. Here S4 holds it too: S1 only learns that a follower stores
    // an entry from the follower's acknowledgement, and S2 had it before S1 was re-elected, so S1
    // learns it from S3 and S4. S1 thus *knows* a majority (S1, S3, S4) holds 7@2.
    expect(logs(c)).toEqual({
      1: ['6@2', '7@2 a', '8@4'],
      2: ['6@2', '7@2 a'],
      3: ['6@2', '7@2 a'],
      4: ['6@2', '7@2 a'],
    });
    const progress = c.status('1').progress;
    expect(progress.get('3')?.match).toBe(7);
    expect(progress.get('4')?.match).toBe(7);

    // Counting replicas would commit index 7. Raft must not: 7 is from term 2, S1 leads term 4.
    expect(c.status('1').commit).toBe(6);
    expect(nobodyApplied(c, 'a')).toBe(true);
  });

  it('(d) if S1 crashes now, S5 can be elected and overwrite 7@2, which was rightly never committed', () => {
    const c = figure8c();
    c.crash('1');
    c.heal();
    c.restart('5');

    // Term 4 is taken (S2, S3, S4 voted for S1); in term 5 S5's last entry 7@3 beats their 7@2.
    c.campaign('5');
    c.deliverAll();
    expect(c.role('5')).toBe(StateRole.Follower);
    c.resetTranscript();
    c.campaign('5');
    c.deliverAll();
    expect(c.transcript().slice(0, 6)).toEqual([
      '5 -> 2 Vote term=5 index=7 logTerm=3',
      '5 -> 3 Vote term=5 index=7 logTerm=3',
      '5 -> 4 Vote term=5 index=7 logTerm=3',
      '2 -> 5 VoteResp term=5',
      '3 -> 5 VoteResp term=5',
      '4 -> 5 VoteResp term=5',
    ]);
    expect(c.status('5')).toMatchObject({ role: StateRole.Leader, term: 5, commit: 8 });

    expect(logs(c)).toEqual({
      2: ['6@2', '7@3', '8@5'],
      3: ['6@2', '7@3', '8@5'],
      4: ['6@2', '7@3', '8@5'],
      5: ['6@2', '7@3', '8@5'],
    });
    expect(nobodyApplied(c, 'a')).toBe(true);
  });

  it('(e) once S1 replicates 8@4 to a majority, 7@2 commits with it and S5 can no longer win', () => {
    const c = figure8c();
    c.heal();
    c.resetTranscript();
    c.tick('1');

    // The heartbeat answers make S1 send 8@4; with it on S1, S2, S3 (and S4) both 7@2 and 8@4 commit.
    expect(c.status('1').commit).toBe(8);
    for (const id of ['1', '2', '3', '4']) {
      expect(c.log(id, 6)).toEqual(['6@2', '7@2 a', '8@4']);
      expect(c.applied(id)).toEqual(['a']);
    }

    // S1 crashes before S5 comes back; S5 cannot win in any term: its last entry 7@3 is older than 8@4.
    c.crash('1');
    c.restart('5');
    c.campaign('5');
    c.deliverAll();
    c.resetTranscript();
    c.campaign('5');
    c.deliverAll();
    expect(c.transcript()).toEqual([
      '5 -> 2 Vote term=5 index=7 logTerm=3',
      '5 -> 3 Vote term=5 index=7 logTerm=3',
      '5 -> 4 Vote term=5 index=7 logTerm=3',
      '2 -> 5 VoteResp term=5 reject',
      '3 -> 5 VoteResp term=5 reject',
      '4 -> 5 VoteResp term=5 reject',
    ]);
    expect(c.role('5')).not.toBe(StateRole.Leader);

    // S2 is elected instead, and S5's 7@3 is replaced by the committed 7@2.
    c.elect('2');
    expect(c.log('5', 6)).toEqual(['6@2', '7@2 a', '8@4', '9@6']);
    expect(c.applied('5')).toEqual(['a']);
  });
});
