// Txn: compares (every target and result, missing keys, ranges), branches, one revision for all
// writes, reads that see earlier writes, nested txns whose compares see the pre-txn store, the
// checks that run before anything is written, and the response revisions etcd reports.
import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import type { Compare, RequestOp, ResponseOp } from '../../src/mvcc/types.js';
import { cmp, delReq, errorCode, eventLine, kvLine, putReq, rangeReq, s, txnReq } from './helpers.js';

function seeded(): MvccStore {
  const store = new MvccStore();
  store.put(putReq('a', 'apple', { lease: '5' })); // 2
  store.put(putReq('b', 'banana')); // 3
  store.put(putReq('b', 'berry')); // 4: b v2
  return store;
}

function holds(store: MvccStore, ...compare: Compare[]): boolean {
  return store.txn(txnReq(compare, [], [])).response.succeeded;
}

const rangeOp = (key: string, end = ''): RequestOp => ({ range: rangeReq(key, { end }) });
const putOp = (key: string, value: string): RequestOp => ({ put: putReq(key, value) });
const delOp = (key: string, end = ''): RequestOp => ({ deleteRange: delReq(key, end, true) });

function rangeKvs(r: ResponseOp | undefined): string[] {
  if (r === undefined || !('range' in r)) throw new Error('not a range response');
  return r.range.kvs.map(kvLine);
}

describe('txn compares', () => {
  it('compares each target with each result', () => {
    const store = seeded();
    expect(holds(store, cmp('b', 'VERSION', 'EQUAL', 2))).toBe(true);
    expect(holds(store, cmp('b', 'VERSION', 'NOT_EQUAL', 2))).toBe(false);
    expect(holds(store, cmp('b', 'VERSION', 'GREATER', 1))).toBe(true);
    expect(holds(store, cmp('b', 'VERSION', 'LESS', 2))).toBe(false);
    expect(holds(store, cmp('b', 'CREATE', 'EQUAL', 3))).toBe(true);
    expect(holds(store, cmp('b', 'MOD', 'EQUAL', 4))).toBe(true);
    expect(holds(store, cmp('b', 'MOD', 'LESS', 5))).toBe(true);
    expect(holds(store, cmp('b', 'VALUE', 'EQUAL', 'berry'))).toBe(true);
    expect(holds(store, cmp('b', 'VALUE', 'GREATER', 'banana'))).toBe(true);
    expect(holds(store, cmp('b', 'VALUE', 'LESS', 'berry2'))).toBe(true);
    expect(holds(store, cmp('a', 'LEASE', 'EQUAL', '5'))).toBe(true);
    expect(holds(store, cmp('a', 'LEASE', 'GREATER', '-1'))).toBe(true);
    expect(holds(store, cmp('b', 'LEASE', 'EQUAL', '0'))).toBe(true);
  });

  it('a missing key compares as version, create, mod and lease 0; a value compare on it always fails', () => {
    const store = seeded();
    expect(holds(store, cmp('nope', 'VERSION', 'EQUAL', 0))).toBe(true);
    expect(holds(store, cmp('nope', 'CREATE', 'EQUAL', 0))).toBe(true);
    expect(holds(store, cmp('nope', 'MOD', 'LESS', 1))).toBe(true);
    expect(holds(store, cmp('nope', 'LEASE', 'EQUAL', '0'))).toBe(true);
    expect(holds(store, cmp('nope', 'VALUE', 'EQUAL', ''))).toBe(false);
    expect(holds(store, cmp('nope', 'VALUE', 'NOT_EQUAL', 'x'))).toBe(false);
  });

  it('with a range end every key in the range must satisfy the compare; an empty range is the zero kv', () => {
    const store = seeded();
    expect(holds(store, cmp('a', 'MOD', 'GREATER', 1, 'c'))).toBe(true);
    expect(holds(store, cmp('a', 'MOD', 'GREATER', 2, 'c'))).toBe(false);
    expect(holds(store, cmp('a', 'VERSION', 'GREATER', 0, '\0'))).toBe(true);
    expect(holds(store, cmp('x', 'VERSION', 'EQUAL', 0, 'z'))).toBe(true);
    expect(holds(store, cmp('x', 'VALUE', 'EQUAL', '', 'z'))).toBe(false);
  });

  it('all compares must hold for the success branch', () => {
    const store = seeded();
    const r = store.txn(
      txnReq([cmp('a', 'VERSION', 'EQUAL', 1), cmp('b', 'VERSION', 'EQUAL', 1)], [putOp('s', '1')], [putOp('f', '1')]),
    );
    expect(r.response.succeeded).toBe(false);
    expect(store.range(rangeReq('f')).count).toBe(1);
    expect(store.range(rangeReq('s')).count).toBe(0);
  });
});

describe('txn execution', () => {
  it('a read-only txn writes nothing and keeps the revision', () => {
    const store = seeded();
    const r = store.txn(txnReq([], [rangeOp('a'), rangeOp('a', 'z')]));
    expect(r.revision).toBe(4);
    expect(r.ops).toEqual([]);
    expect(r.events).toEqual([]);
    expect(r.response.revision).toBe(4);
    expect(rangeKvs(r.response.responses[1])).toEqual(['a@2/2/v1=apple lease=5', 'b@3/4/v2=berry']);
  });

  it('every write of a txn shares one main revision; sub revisions count up', () => {
    const store = seeded();
    const r = store.txn(txnReq([], [putOp('c', '1'), delOp('a'), putOp('d', '1')]));
    expect(r.revision).toBe(5);
    expect(store.currentRevision).toBe(5);
    expect(r.ops.map((op) => op.key.subarray(2).toString('hex'))).toEqual([
      `${'0000000000000005'}5f${'0000000000000000'}`,
      `${'0000000000000005'}5f${'0000000000000001'}74`,
      `${'0000000000000005'}5f${'0000000000000002'}`,
    ]);
    expect(r.events.map(eventLine)).toEqual([
      'PUT c@5/5/v1=1 prev=-',
      'DELETE a@0/5/v0= prev=a@2/2/v1=apple lease=5',
      'PUT d@5/5/v1=1 prev=-',
    ]);
    expect(store.keysWithLease('5')).toEqual([]);
  });

  it('reads in a txn see the writes before them; their revision is the txn’s once it wrote', () => {
    const store = seeded();
    const r = store.txn(txnReq([], [rangeOp('b'), putOp('b', 'blue'), rangeOp('b'), delOp('b'), rangeOp('b')]));
    const responses = r.response.responses;
    expect(rangeKvs(responses[0])).toEqual(['b@3/4/v2=berry']);
    expect(rangeKvs(responses[2])).toEqual(['b@3/5/v3=blue']);
    expect(rangeKvs(responses[4])).toEqual([]);
    const revisions = responses.map((op) => ('range' in op ? op.range.revision : 'put' in op ? op.put.revision : -1));
    expect(revisions).toEqual([4, 5, 5, -1, 5]);
    expect(responses[3]).toEqual({
      deleteRange: { deleted: 1, prevKvs: [expect.anything()], revision: 5 },
    });
  });

  it('a key put twice in one txn gets both versions at one revision', () => {
    const store = seeded();
    const r = store.txn(txnReq([], [putOp('n', '1'), putOp('n', '2')]));
    expect(r.events.map(eventLine)).toEqual(['PUT n@5/5/v1=1 prev=-', 'PUT n@5/5/v2=2 prev=n@5/5/v1=1']);
    expect(kvLine(store.range(rangeReq('n')).kvs[0])).toBe('n@5/5/v2=2');
  });

  it('a txn whose only write deletes nothing keeps the revision, and its delete reports it', () => {
    const store = seeded();
    const r = store.txn(txnReq([], [delOp('nope')]));
    expect(r.revision).toBe(4);
    expect(r.response.responses[0]).toEqual({ deleteRange: { deleted: 0, prevKvs: [], revision: 4 } });
    // After a change in the same txn, even an empty delete reports the txn's revision.
    const r2 = store.txn(txnReq([], [putOp('x', '1'), delOp('nope')]));
    expect(r2.response.responses[1]).toEqual({ deleteRange: { deleted: 0, prevKvs: [], revision: 5 } });
  });

  it('range options and historic revisions work inside a txn', () => {
    const store = seeded();
    const r = store.txn(
      txnReq([], [{ range: rangeReq('b', { revision: 3 }) }, { range: rangeReq('a', { end: 'z', countOnly: true }) }]),
    );
    expect(rangeKvs(r.response.responses[0])).toEqual(['b@3/3/v1=banana']);
    expect(r.response.responses[1]).toEqual({ range: { kvs: [], more: false, count: 2, revision: 4 } });
  });
});

describe('nested txns', () => {
  it('nested compares see the store before the txn, not the outer writes', () => {
    const store = seeded();
    const r = store.txn(
      txnReq(
        [],
        [
          putOp('b', 'changed'),
          {
            // b is at version 3 once the outer put runs, but the compare sees version 2.
            txn: txnReq([cmp('b', 'VERSION', 'EQUAL', 2)], [putOp('inner', 'saw-old')], [putOp('inner', 'saw-new')]),
          },
        ],
      ),
    );
    const nested = r.response.responses[1];
    expect(nested !== undefined && 'txn' in nested ? nested.txn.succeeded : undefined).toBe(true);
    expect(kvLine(store.range(rangeReq('inner')).kvs[0])).toBe('inner@5/5/v1=saw-old');
  });

  it('a nested txn runs its taken branch, depth first, with a zero response revision', () => {
    const store = seeded();
    const r = store.txn(
      txnReq(
        [cmp('a', 'VERSION', 'EQUAL', 99)],
        [putOp('never', '1')],
        [
          {
            txn: txnReq(
              [cmp('a', 'VERSION', 'EQUAL', 1)],
              [putOp('n1', '1'), { txn: txnReq([], [putOp('n2', '1')]) }, rangeOp('n1')],
              [putOp('never', '2')],
            ),
          },
          { txn: txnReq([cmp('b', 'VALUE', 'EQUAL', 'x')], [], [rangeOp('n2')]) },
        ],
      ),
    );
    expect(r.response.succeeded).toBe(false);
    expect(r.revision).toBe(5);
    const [first, second] = r.response.responses;
    if (first === undefined || !('txn' in first) || second === undefined || !('txn' in second)) throw new Error('shape');
    expect(first.txn.succeeded).toBe(true);
    expect(first.txn.revision).toBe(0);
    expect(rangeKvs(first.txn.responses[2])).toEqual(['n1@5/5/v1=1']);
    expect(second.txn.succeeded).toBe(false);
    expect(rangeKvs(second.txn.responses[0])).toEqual(['n2@5/5/v1=1']);
    expect(store.range(rangeReq('never')).count).toBe(0);
  });
});

describe('txn checks leave the store untouched', () => {
  it('a put with an unknown lease on the taken branch is LeaseNotFound', () => {
    const store = new MvccStore({ leaseExists: (id) => id === '1' });
    store.put(putReq('k', 'v'));
    const bad: RequestOp = { put: putReq('x', 'v', { lease: '2' }) };
    expect(errorCode(() => store.txn(txnReq([], [putOp('y', '1'), bad])))).toBe('LeaseNotFound');
    expect(errorCode(() => store.txn(txnReq([], [{ txn: txnReq([], [bad]) }])))).toBe('LeaseNotFound');
    // On the branch not taken it does not matter.
    expect(store.txn(txnReq([cmp('k', 'VERSION', 'EQUAL', 1)], [putOp('y', '1')], [bad])).revision).toBe(3);
    expect(store.currentRevision).toBe(3);
  });

  it('ignoreValue on a missing key is KeyNotFound, also when an earlier op of the txn deleted it', () => {
    const store = seeded();
    const ignore: RequestOp = { put: putReq('b', '', { ignoreValue: true }) };
    expect(errorCode(() => store.txn(txnReq([], [{ put: putReq('zz', '', { ignoreValue: true }) }])))).toBe('KeyNotFound');
    // etcd's pre-check passes (b exists before the txn) and its apply would panic; we undo instead.
    const before = store.exportSnapshot();
    expect(errorCode(() => store.txn(txnReq([], [putOp('new', '1'), delOp('b'), ignore])))).toBe('KeyNotFound');
    expect(store.exportSnapshot().equals(before)).toBe(true);
    expect(store.currentRevision).toBe(4);
    expect(store.range(rangeReq('new')).count).toBe(0);
    expect(store.stats()).toEqual(seeded().stats());
    // The store still works after the undo.
    expect(store.txn(txnReq([], [putOp('new', '1')])).events.map(eventLine)).toEqual(['PUT new@5/5/v1=1 prev=-']);
  });

  it('a range at a future or compacted revision fails the whole txn; puts are checked first', () => {
    const store = seeded();
    store.compact(3);
    const future: RequestOp = { range: rangeReq('a', { revision: 5 }) };
    const compacted: RequestOp = { range: rangeReq('a', { revision: 2 }) };
    expect(errorCode(() => store.txn(txnReq([], [putOp('x', '1'), future])))).toBe('FutureRevision');
    expect(errorCode(() => store.txn(txnReq([], [compacted])))).toBe('Compacted');
    // etcd's check: only 0 means current inside a txn; a negative revision is below the compact one.
    expect(errorCode(() => store.txn(txnReq([], [{ range: rangeReq('a', { revision: -1 }) }])))).toBe('Compacted');
    // Before any compaction etcd's compact revision is -1: -1 reads the current revision, -2 fails.
    const fresh = seeded();
    expect(fresh.txn(txnReq([], [{ range: rangeReq('a', { revision: -1 }) }])).response.succeeded).toBe(true);
    expect(errorCode(() => fresh.txn(txnReq([], [{ range: rangeReq('a', { revision: -2 }) }])))).toBe('Compacted');
    const badPut: RequestOp = { put: putReq('zz', '', { ignoreLease: true }) };
    expect(errorCode(() => store.txn(txnReq([], [future, badPut])))).toBe('KeyNotFound');
    expect(store.currentRevision).toBe(4);
  });

  it('a lease compare with a malformed lease ID is InvalidLease', () => {
    const store = seeded();
    expect(errorCode(() => store.txn(txnReq([cmp('a', 'LEASE', 'EQUAL', 'abc')], [])))).toBe('InvalidLease');
  });
});

describe('txn and leases', () => {
  it('attaches and detaches leases at commit, per key', () => {
    const store = seeded();
    store.txn(
      txnReq([], [{ put: putReq('a', 'x', { lease: '6' }) }, { put: putReq('c', 'x', { lease: '5' }) }, delOp('b')]),
    );
    expect(store.keysWithLease('5').map(s)).toEqual(['c']);
    expect(store.keysWithLease('6').map(s)).toEqual(['a']);
  });
});
