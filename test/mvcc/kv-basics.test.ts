// Revisions, versions and generations, historic reads, every Range option, Put's flags, leases and
// watch events: the single-request rules of etcd 3.4's MVCC store.
import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import type { RangeRequest } from '../../src/mvcc/types.js';
import { b, delReq, errorCode, eventLine, kvLine, prefixEnd, putReq, rangeReq, s } from './helpers.js';

function keys(store: MvccStore, req: RangeRequest): string[] {
  return store.range(req).kvs.map((kv) => s(kv.key));
}

function lines(store: MvccStore, req: RangeRequest): string[] {
  return store.range(req).kvs.map(kvLine);
}

describe('revisions, versions and generations', () => {
  it('a fresh store is at revision 1; every put takes the next revision', () => {
    const store = new MvccStore();
    expect(store.currentRevision).toBe(1);
    expect(store.compactRevision).toBe(0);
    expect(store.range(rangeReq('\0', { end: '\0' }))).toEqual({ kvs: [], more: false, count: 0, revision: 1 });

    expect(store.put(putReq('foo', 'a')).revision).toBe(2);
    expect(store.put(putReq('foo', 'b')).revision).toBe(3);
    expect(store.put(putReq('bar', 'x')).revision).toBe(4);
    expect(store.currentRevision).toBe(4);
    expect(lines(store, rangeReq('\0', { end: '\0' }))).toEqual(['bar@4/4/v1=x', 'foo@2/3/v2=b']);
  });

  it('a delete ends the generation: the next put starts at version 1 with a new create revision', () => {
    const store = new MvccStore();
    store.put(putReq('k', '1')); // 2
    store.put(putReq('k', '2')); // 3
    const del = store.deleteRange(delReq('k'));
    expect(del.revision).toBe(4);
    expect(del.response).toEqual({ deleted: 1, prevKvs: [], revision: 4 });
    expect(store.range(rangeReq('k')).kvs).toEqual([]);
    store.put(putReq('k', '3')); // 5
    expect(lines(store, rangeReq('k'))).toEqual(['k@5/5/v1=3']);
  });

  it('deleting nothing writes nothing and keeps the revision', () => {
    const store = new MvccStore();
    store.put(putReq('a', '1'));
    const r = store.deleteRange(delReq('zzz', '\0', true));
    expect(r).toEqual({ response: { deleted: 0, prevKvs: [], revision: 2 }, revision: 2, events: [], ops: [] });
    expect(store.currentRevision).toBe(2);
  });

  it('reads at an older revision see the store as it was then', () => {
    const store = new MvccStore();
    store.put(putReq('k', '1')); // 2
    store.put(putReq('k', '2')); // 3
    store.deleteRange(delReq('k')); // 4
    store.put(putReq('k', '3')); // 5
    store.put(putReq('other', 'o')); // 6
    const at = (revision: number): string[] => lines(store, rangeReq('k', { revision }));
    expect(at(1)).toEqual([]);
    expect(at(2)).toEqual(['k@2/2/v1=1']);
    expect(at(3)).toEqual(['k@2/3/v2=2']);
    expect(at(4)).toEqual([]);
    expect(at(5)).toEqual(['k@5/5/v1=3']);
    expect(at(6)).toEqual(['k@5/5/v1=3']);
    // The response revision is the store's, not the one read at.
    expect(store.range(rangeReq('k', { revision: 3 })).revision).toBe(6);
    expect(keys(store, rangeReq('\0', { end: '\0', revision: 4 }))).toEqual([]);
  });

  it('a revision past the current one is FutureRevision; 0 and negative mean current', () => {
    const store = new MvccStore();
    store.put(putReq('k', '1'));
    expect(errorCode(() => store.range(rangeReq('k', { revision: 3 })))).toBe('FutureRevision');
    expect(keys(store, rangeReq('k', { revision: 2 }))).toEqual(['k']);
    expect(keys(store, rangeReq('k', { revision: 0 }))).toEqual(['k']);
    expect(keys(store, rangeReq('k', { revision: -5 }))).toEqual(['k']);
  });
});

describe('range', () => {
  function fill(): MvccStore {
    const store = new MvccStore();
    // Bytes 0x00, 0x7f and 0xff in keys: order is bytewise.
    for (const k of ['a', 'a/1', 'a/2', 'a\0', 'a\xff', 'b', 'b\x7f', 'c', '\xff\xff']) store.put(putReq(k, `v-${k}`));
    return store;
  }

  it('selects one key, [key, end), every key >= key, or everything', () => {
    const store = fill();
    expect(keys(store, rangeReq('a/1'))).toEqual(['a/1']);
    expect(keys(store, rangeReq('a/'))).toEqual([]);
    expect(keys(store, rangeReq('a/', { end: prefixEnd('a/') }))).toEqual(['a/1', 'a/2']);
    expect(keys(store, rangeReq('a', { end: 'b' }))).toEqual(['a', 'a\0', 'a/1', 'a/2', 'a\xff']);
    expect(keys(store, rangeReq('b', { end: '\0' }))).toEqual(['b', 'b\x7f', 'c', '\xff\xff']);
    expect(keys(store, rangeReq('\0', { end: '\0' }))).toEqual([
      'a',
      'a\0',
      'a/1',
      'a/2',
      'a\xff',
      'b',
      'b\x7f',
      'c',
      '\xff\xff',
    ]);
    // An end at or before the key selects nothing.
    expect(keys(store, rangeReq('c', { end: 'b' }))).toEqual([]);
    expect(keys(store, rangeReq('c', { end: 'c' }))).toEqual([]);
    expect(keys(store, rangeReq('\xff\xff', { end: '\xff\xff\0' }))).toEqual(['\xff\xff']);
  });

  it('limit cuts the kvs and sets more; count is every match', () => {
    const store = fill();
    const r = store.range(rangeReq('a', { end: 'b', limit: 2 }));
    expect(r.kvs.map((kv) => s(kv.key))).toEqual(['a', 'a\0']);
    expect([r.more, r.count]).toEqual([true, 5]);
    const all = store.range(rangeReq('a', { end: 'b', limit: 5 }));
    expect([all.kvs.length, all.more, all.count]).toEqual([5, false, 5]);
    const none = store.range(rangeReq('a', { end: 'b', limit: -1 }));
    expect([none.kvs.length, none.more]).toEqual([5, false]);
  });

  it('countOnly returns no kvs; keysOnly returns kvs without values', () => {
    const store = fill();
    expect(store.range(rangeReq('a', { end: 'b', countOnly: true, limit: 1 }))).toEqual({
      kvs: [],
      more: false,
      count: 5,
      revision: 10,
    });
    const r = store.range(rangeReq('a/', { end: 'a0', keysOnly: true }));
    expect(r.kvs.map(kvLine)).toEqual(['a/1@3/3/v1=', 'a/2@4/4/v1=']);
  });

  it('sorts by every target in both orders; order NONE sorts a non-key target ascending', () => {
    const store = new MvccStore();
    store.put(putReq('k1', 'c')); // 2
    store.put(putReq('k2', 'a')); // 3
    store.put(putReq('k3', 'b')); // 4
    store.put(putReq('k1', 'c2')); // 5: k1 v2
    store.put(putReq('k3', 'b2')); // 6: k3 v2
    store.put(putReq('k3', 'b3')); // 7: k3 v3
    const sorted = (sortTarget: RangeRequest['sortTarget'], sortOrder: RangeRequest['sortOrder']): string[] =>
      keys(store, rangeReq('k', { end: 'l', sortTarget, sortOrder }));
    expect(sorted('KEY', 'NONE')).toEqual(['k1', 'k2', 'k3']);
    expect(sorted('KEY', 'ASCEND')).toEqual(['k1', 'k2', 'k3']);
    expect(sorted('KEY', 'DESCEND')).toEqual(['k3', 'k2', 'k1']);
    expect(sorted('VERSION', 'ASCEND')).toEqual(['k2', 'k1', 'k3']);
    expect(sorted('VERSION', 'DESCEND')).toEqual(['k3', 'k1', 'k2']);
    expect(sorted('VERSION', 'NONE')).toEqual(['k2', 'k1', 'k3']);
    expect(sorted('CREATE', 'DESCEND')).toEqual(['k3', 'k2', 'k1']);
    expect(sorted('MOD', 'ASCEND')).toEqual(['k2', 'k1', 'k3']);
    expect(sorted('MOD', 'NONE')).toEqual(['k2', 'k1', 'k3']);
    expect(sorted('VALUE', 'ASCEND')).toEqual(['k2', 'k3', 'k1']);
    expect(sorted('VALUE', 'DESCEND')).toEqual(['k1', 'k3', 'k2']);
  });

  it('ties keep key order in both directions', () => {
    const store = new MvccStore();
    for (const k of ['d', 'a', 'c', 'b']) store.put(putReq(k, 'same'));
    expect(keys(store, rangeReq('a', { end: 'z', sortTarget: 'VALUE', sortOrder: 'ASCEND' }))).toEqual(['a', 'b', 'c', 'd']);
    expect(keys(store, rangeReq('a', { end: 'z', sortTarget: 'VERSION', sortOrder: 'DESCEND' }))).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
  });

  it('with a sort order the limit applies after sorting; with order NONE only the fetched keys are sorted', () => {
    const store = new MvccStore();
    store.put(putReq('a', '1'));
    store.put(putReq('b', '1'));
    store.put(putReq('c', '1'));
    store.put(putReq('c', '2'));
    store.put(putReq('c', '3')); // c has the highest version
    store.put(putReq('a', '2'));
    const r = store.range(rangeReq('a', { end: 'z', sortTarget: 'VERSION', sortOrder: 'DESCEND', limit: 1 }));
    expect([r.kvs.map((kv) => s(kv.key)), r.more, r.count]).toEqual([['c'], true, 3]);
    // etcd 3.4 fetches limit+1 keys in key order when sortOrder is NONE, then sorts only those.
    const quirk = store.range(rangeReq('a', { end: 'z', sortTarget: 'VERSION', limit: 1 }));
    expect([quirk.kvs.map((kv) => s(kv.key)), quirk.more, quirk.count]).toEqual([['b'], true, 3]);
  });

  it('min/max mod/create revision filters drop kvs after the fetch but leave count alone', () => {
    const store = new MvccStore();
    store.put(putReq('a', '1')); // 2
    store.put(putReq('b', '1')); // 3
    store.put(putReq('c', '1')); // 4
    store.put(putReq('a', '2')); // 5
    store.put(putReq('d', '1')); // 6
    const filtered = (opts: Partial<RangeRequest>): [string[], boolean, number] => {
      const r = store.range(rangeReq('a', { end: 'z', ...opts }));
      return [r.kvs.map((kv) => s(kv.key)), r.more, r.count];
    };
    expect(filtered({ minModRevision: 4 })).toEqual([['a', 'c', 'd'], false, 4]);
    expect(filtered({ maxModRevision: 4 })).toEqual([['b', 'c'], false, 4]);
    expect(filtered({ minCreateRevision: 3, maxCreateRevision: 4 })).toEqual([['b', 'c'], false, 4]);
    expect(filtered({ maxCreateRevision: 2 })).toEqual([['a'], false, 4]);
    // The limit counts the kvs left after filtering.
    expect(filtered({ minModRevision: 4, limit: 2 })).toEqual([['a', 'c'], true, 4]);
    expect(filtered({ minModRevision: 6, limit: 1 })).toEqual([['d'], false, 4]);
  });

  it('a single-key range at a revision counts 0 or 1', () => {
    const store = new MvccStore();
    store.put(putReq('k', 'v'));
    expect(store.range(rangeReq('k', { countOnly: true })).count).toBe(1);
    expect(store.range(rangeReq('nope', { countOnly: true })).count).toBe(0);
    expect(store.range(rangeReq('k', { revision: 1, countOnly: true })).count).toBe(0);
  });

  it('returned buffers are the caller’s: changing them does not change the store', () => {
    const store = new MvccStore();
    const req = putReq('k', 'value');
    store.put(req);
    req.value.fill(0x21);
    const kv = store.range(rangeReq('k')).kvs[0];
    expect(kv && s(kv.value)).toBe('value');
    kv?.value.fill(0x22);
    expect(kvLine(store.range(rangeReq('k')).kvs[0])).toBe('k@2/2/v1=value');
  });
});

describe('put', () => {
  it('returns prevKv only when asked and when the key existed', () => {
    const store = new MvccStore();
    expect(store.put(putReq('k', '1', { prevKv: true })).response).toEqual({ revision: 2 });
    expect(store.put(putReq('k', '2')).response).toEqual({ revision: 3 });
    const r = store.put(putReq('k', '3', { prevKv: true }));
    expect(kvLine(r.response.prevKv)).toBe('k@2/3/v2=2');
    store.deleteRange(delReq('k'));
    expect(store.put(putReq('k', '4', { prevKv: true })).response.prevKv).toBeUndefined();
  });

  it('ignoreValue keeps the value, ignoreLease the lease; both need the key to exist', () => {
    const store = new MvccStore();
    expect(errorCode(() => store.put(putReq('k', '', { ignoreValue: true })))).toBe('KeyNotFound');
    expect(errorCode(() => store.put(putReq('k', 'x', { ignoreLease: true })))).toBe('KeyNotFound');
    expect(store.currentRevision).toBe(1);
    store.put(putReq('k', 'v', { lease: '42' })); // 2
    store.put(putReq('k', '', { ignoreValue: true, lease: '43' })); // 3
    expect(lines(store, rangeReq('k'))).toEqual(['k@2/3/v2=v lease=43']);
    store.put(putReq('k', 'w', { ignoreLease: true })); // 4
    expect(lines(store, rangeReq('k'))).toEqual(['k@2/4/v3=w lease=43']);
    store.put(putReq('k', '', { ignoreValue: true, ignoreLease: true })); // 5
    expect(lines(store, rangeReq('k'))).toEqual(['k@2/5/v4=w lease=43']);
    store.deleteRange(delReq('k'));
    expect(errorCode(() => store.put(putReq('k', '', { ignoreValue: true })))).toBe('KeyNotFound');
  });

  it('an empty key is KeyNotProvided; an empty value is a value', () => {
    const store = new MvccStore();
    expect(errorCode(() => store.put(putReq('', 'v')))).toBe('KeyNotProvided');
    expect(errorCode(() => store.deleteRange(delReq('')))).toBe('KeyNotProvided');
    store.put(putReq('k', ''));
    expect(lines(store, rangeReq('k'))).toEqual(['k@2/2/v1=']);
  });
});

describe('leases', () => {
  it('a put with a lease the lessor does not know is LeaseNotFound and writes nothing', () => {
    const leases = new Set(['7']);
    const store = new MvccStore({ leaseExists: (id) => leases.has(id) });
    expect(errorCode(() => store.put(putReq('k', 'v', { lease: '8' })))).toBe('LeaseNotFound');
    expect(store.currentRevision).toBe(1);
    store.put(putReq('k', 'v', { lease: '7' }));
    expect(store.keysWithLease('7').map(s)).toEqual(['k']);
  });

  it('tracks the current keys of each lease through puts, lease changes and deletes', () => {
    const store = new MvccStore();
    store.put(putReq('b', '1', { lease: '7' }));
    store.put(putReq('a', '1', { lease: '7' }));
    store.put(putReq('c', '1', { lease: '9' }));
    expect(store.keysWithLease('7').map(s)).toEqual(['a', 'b']);
    store.put(putReq('a', '2', { lease: '9' }));
    expect(store.keysWithLease('7').map(s)).toEqual(['b']);
    expect(store.keysWithLease('9').map(s)).toEqual(['a', 'c']);
    store.put(putReq('c', '2'));
    expect(store.keysWithLease('9').map(s)).toEqual(['a']);
    store.deleteRange(delReq('a', '\0'));
    expect(store.keysWithLease('9')).toEqual([]);
    expect(store.keysWithLease('7')).toEqual([]);
  });

  it('deleteLeaseKeys deletes every key of the lease in one revision, in key order', () => {
    const store = new MvccStore();
    store.put(putReq('x', '1', { lease: '5' }));
    store.put(putReq('m', '1', { lease: '5' }));
    store.put(putReq('z', '1'));
    const r = store.deleteLeaseKeys('5');
    expect(r.revision).toBe(5);
    expect(r.response.deleted).toBe(2);
    expect(r.events.map(eventLine)).toEqual([
      'DELETE m@0/5/v0= prev=m@3/3/v1=1 lease=5',
      'DELETE x@0/5/v0= prev=x@2/2/v1=1 lease=5',
    ]);
    expect(keys(store, rangeReq('\0', { end: '\0' }))).toEqual(['z']);
    expect(store.deleteLeaseKeys('5').revision).toBe(5);
  });

  it('lease IDs are int64 decimals, canonical and exact beyond 2^53', () => {
    const store = new MvccStore();
    const big = '9223372036854775807';
    store.put(putReq('k', 'v', { lease: big }));
    expect(lines(store, rangeReq('k'))).toEqual([`k@2/2/v1=v lease=${big}`]);
    expect(store.keysWithLease(big).map(s)).toEqual(['k']);
    expect(errorCode(() => store.put(putReq('k', 'v', { lease: '9223372036854775808' })))).toBe('InvalidLease');
    expect(errorCode(() => store.put(putReq('k', 'v', { lease: '0x10' })))).toBe('InvalidLease');
  });
});

describe('events', () => {
  it('a put event carries the new kv and the kv it replaced', () => {
    const store = new MvccStore();
    expect(store.put(putReq('k', '1')).events.map(eventLine)).toEqual(['PUT k@2/2/v1=1 prev=-']);
    expect(store.put(putReq('k', '2')).events.map(eventLine)).toEqual(['PUT k@2/3/v2=2 prev=k@2/2/v1=1']);
  });

  it('a delete event carries the key at the delete revision and the kv it deleted', () => {
    const store = new MvccStore();
    store.put(putReq('a', '1'));
    store.put(putReq('b', '1'));
    store.put(putReq('c', '1'));
    const r = store.deleteRange(delReq('a', 'c', true));
    expect(r.events.map(eventLine)).toEqual(['DELETE a@0/5/v0= prev=a@2/2/v1=1', 'DELETE b@0/5/v0= prev=b@3/3/v1=1']);
    expect(r.response.prevKvs.map(kvLine)).toEqual(['a@2/2/v1=1', 'b@3/3/v1=1']);
    expect(r.response.deleted).toBe(2);
  });
});

describe('persistence records', () => {
  it('a put writes one record under m; a delete writes a tombstone record', () => {
    const store = new MvccStore();
    const put = store.put(putReq('k', 'v'));
    expect(put.ops).toHaveLength(1);
    expect(put.ops[0]?.key.toString('hex')).toBe(`6d6b${'0000000000000002'}5f${'0000000000000000'}`);
    const del = store.deleteRange(delReq('k'));
    expect(del.ops[0]?.key.toString('hex')).toBe(`6d6b${'0000000000000003'}5f${'0000000000000000'}74`);
    expect(del.ops.every((op) => op.key[0] === 0x6d)).toBe(true);
    expect(b('m')[0]).toBe(0x6d);
  });
});
