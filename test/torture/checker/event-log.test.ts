// The revision-history checks: replicas agree, watchers see every revision once and in order,
// acknowledged writes are in the history, fenced lock writes never overlap.

import { describe, expect, it } from 'vitest';

import { byRevision, checkAcked, checkLock, checkReplicaLogs, checkRevisionOrder, checkWatchers, encodeGuard, type LoggedEvent, type RevisionedOp, type WatcherLog } from './event-log.js';

const put = (rev: number, key: string, value: string, createRev = rev): LoggedEvent => ({ rev, key, type: 'PUT', value, createRev });
const del = (rev: number, key: string): LoggedEvent => ({ rev, key, type: 'DELETE', value: '', createRev: 0 });

// Revision 1 is the empty store; changes start at 2.
const history: LoggedEvent[] = [put(2, 'a', '1'), put(3, 'b', '2'), put(4, 'a', '3', 2), del(5, 'a'), del(5, 'b'), put(6, 'c', '5')];

function watcher(events: LoggedEvent[], startRev = 1): WatcherLog {
  return { name: 'w', startRev, events, reconnects: 0 };
}

describe('replica logs', () => {
  it('agree when identical and complete', () => {
    const { findings, reference } = checkReplicaLogs([{ member: 'm1', events: history }, { member: 'm2', events: [...history] }], 6);
    expect(findings).toEqual([]);
    expect(reference.get(5)).toHaveLength(2);
  });

  it('report a missing revision and a divergent one', () => {
    const other = history.map((e) => (e.rev === 3 ? put(3, 'b', 'X') : e));
    const { findings } = checkReplicaLogs([{ member: 'm1', events: history.filter((e) => e.rev !== 6) }, { member: 'm2', events: other }], 6);
    expect(findings.map((f) => f.kind).sort()).toEqual(['replica-divergence', 'replica-divergence', 'replica-gap']);
    expect(findings.find((f) => f.detail.startsWith('revision 3'))?.detail).toContain('m2 has PUT b="X"');
  });
});

describe('watchers', () => {
  const reference = byRevision(history);

  it('pass when they see everything once, in order, across a resume', () => {
    expect(checkWatchers([watcher(history)], reference, 6)).toEqual({ findings: [], gaps: 0 });
    expect(checkWatchers([watcher(history.slice(2), 4)], reference, 6)).toEqual({ findings: [], gaps: 0 });
  });

  it('report a gap, a duplicate, reordering, content and lagging', () => {
    const gap = checkWatchers([watcher(history.filter((e) => e.rev !== 4))], reference, 6);
    expect(gap.gaps).toBe(1);
    expect(gap.findings[0]?.kind).toBe('watch-gap');
    expect(checkWatchers([watcher(history.filter((e) => e.rev !== 2))], reference, 6).findings[0]?.detail).toBe('w: revisions 2..2 never delivered (jumped from 1 to 3)');
    expect(checkWatchers([watcher([...history.slice(0, 4), history[3] as LoggedEvent, ...history.slice(4)])], reference, 6).findings.map((f) => f.kind)).toContain('watch-duplicate');
    expect(checkWatchers([watcher([history[1] as LoggedEvent, history[0] as LoggedEvent, ...history.slice(2)])], reference, 6).findings.map((f) => f.kind)).toContain('watch-order');
    expect(checkWatchers([watcher(history.map((e) => (e.rev === 6 ? put(6, 'c', 'other') : e)))], reference, 6).findings.map((f) => f.kind)).toEqual(['watch-content']);
    const behind = checkWatchers([watcher(history.slice(0, 3))], reference, 6);
    expect(behind.gaps).toBe(2);
    expect(behind.findings.map((f) => f.kind)).toEqual(['watch-behind']);
  });
});

describe('acknowledged writes', () => {
  it('are found at their revision, or counted lost', () => {
    const reference = byRevision([...history, put(7, 'l', 'x,y,z')]);
    expect(checkAcked([{ rev: 4, key: 'a', value: '3', what: 'w' }, { rev: 7, key: 'l', lastElement: 'z', what: 'append z' }], reference).lost).toBe(0);
    const bad = checkAcked([{ rev: 4, key: 'a', value: '4', what: 'write a=4' }, { rev: 7, key: 'l', lastElement: 'y', what: 'append y' }, { rev: 9, key: 'q', value: '1', what: 'write q' }], reference);
    expect(bad.lost).toBe(3);
    expect(bad.findings[0]?.detail).toBe('write a=4 was acknowledged at revision 4, but the history there has PUT a="3"');
  });
});

describe('lock fencing', () => {
  const guard = (holder: string, lockKey: string, token: number): string => encodeGuard({ holder, lockKey, token }, 1);

  it('accepts writes by the oldest holder only, handing over on delete', () => {
    const events = [
      put(1, '/l/a', ''),
      put(2, '/l/b', ''),
      put(3, '/g', guard('A', '/l/a', 1)),
      del(4, '/l/a'),
      put(5, '/g', guard('B', '/l/b', 2)),
    ];
    const result = checkLock(byRevision(events), 5, '/l/', '/g');
    expect(result.findings).toEqual([]);
    expect(result.fencedWrites).toBe(2);
    expect(result.holders).toBe(2);
  });

  it('reports a write by a younger waiter while an older key exists, and one after the key is gone', () => {
    const events = [put(1, '/l/a', ''), put(2, '/l/b', ''), put(3, '/g', guard('B', '/l/b', 2)), del(4, '/l/a'), del(5, '/l/b'), put(6, '/g', guard('B', '/l/b', 2))];
    const kinds = checkLock(byRevision(events), 6, '/l/', '/g').findings.map((f) => f.kind);
    expect(kinds).toEqual(['lock-overlap', 'lock-fence']);
  });
});

describe('revision order in real time', () => {
  const op = (name: string, invokeUs: number, completeUs: number | null, headerRev: number, wrote = false): RevisionedOp & { name: string } => ({
    name,
    invokeUs,
    completeUs,
    headerRev,
    ...(wrote ? { revision: headerRev } : {}),
  });
  const describeOp = (o: RevisionedOp & { name: string }): string => o.name;

  it('accepts revisions that never go back across completed ops, and overlapping ops in any order', () => {
    expect(checkRevisionOrder([op('w1', 0, 10, 5, true), op('r1', 11, 20, 5), op('w2', 21, 30, 6, true), op('r2', 25, 40, 5), op('r3', 31, 35, 6)], describeOp)).toEqual([]);
  });

  it('reports a read served at an older revision than a write that completed before it', () => {
    const f = checkRevisionOrder([op('w1', 0, 10, 7, true), op('r-other-key', 11, 20, 6)], describeOp);
    expect(f.map((x) => x.detail)).toEqual(['r-other-key was served at revision 6, but w1 had completed at revision 7 before it began']);
  });

  it('reports a write that does not create a newer revision than a completed read saw', () => {
    expect(checkRevisionOrder([op('r', 0, 10, 7), op('w', 11, 20, 7, true)], describeOp).map((x) => x.kind)).toEqual(['stale-revision']);
    // Unknown outcomes have no revision to judge.
    expect(checkRevisionOrder([op('r', 0, 10, 7), op('w', 11, null, 3, true)], describeOp)).toEqual([]);
  });
});
