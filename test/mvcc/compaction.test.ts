// Compaction (what is kept, the Compacted/FutureRevision errors, reads at and above the compact
// revision unchanged), hashKV, and rebuilding the store from its records and snapshots.
import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { decodeRevisionKey } from '../../src/mvcc/record-codec.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/mvcc/snapshot-format.js';
import type { RangeRequest, StorageOp } from '../../src/mvcc/types.js';
import { SortedRecords, delReq, errorCode, kvLine, putReq, rangeReq, txnReq } from './helpers.js';

/** A store plus the LevelDB image of every batch it emitted. */
class Recorded {
  readonly store = new MvccStore();
  readonly disk = new SortedRecords();

  do<T extends { ops: StorageOp[] }>(result: T): T {
    this.disk.apply(result.ops);
    return result;
  }

  reload(): MvccStore {
    return MvccStore.load(this.disk.records());
  }
}

function history(): Recorded {
  const r = new Recorded();
  r.do(r.store.put(putReq('a', 'a1'))); // 2
  r.do(r.store.put(putReq('a', 'a2'))); // 3
  r.do(r.store.put(putReq('b', 'b1'))); // 4
  r.do(r.store.deleteRange(delReq('b'))); // 5: b tombstone
  r.do(r.store.put(putReq('c', 'c1'))); // 6
  r.do(r.store.put(putReq('a', 'a3'))); // 7
  r.do(r.store.deleteRange(delReq('c'))); // 8
  r.do(r.store.put(putReq('c', 'c2'))); // 9
  return r;
}

const everything = (revision = 0): RangeRequest => rangeReq('\0', { end: '\0', revision });

function keptRevisions(r: Recorded): string[] {
  return r.disk
    .records()
    .filter(([key]) => key[1] === 0x6b)
    .map(([key]) => {
      const rk = decodeRevisionKey(key);
      return `${rk.main}.${rk.sub}${rk.tombstone ? 't' : ''}`;
    });
}

describe('compaction', () => {
  it('refuses revisions at or below the compact revision and above the current one', () => {
    const r = history();
    expect(errorCode(() => r.store.compact(-1))).toBe('Compacted');
    expect(errorCode(() => r.store.compact(10))).toBe('FutureRevision');
    r.store.compact(4);
    expect(errorCode(() => r.store.compact(4))).toBe('Compacted');
    expect(errorCode(() => r.store.compact(3))).toBe('Compacted');
    expect(r.store.compact(9).revision).toBe(9);
    expect(r.store.compactRevision).toBe(9);
  });

  it('keeps the newest revision <= rev of each key unless it is a tombstone, and everything newer', () => {
    const r = history();
    expect(keptRevisions(r)).toEqual(['2.0', '3.0', '4.0', '5.0t', '6.0', '7.0', '8.0t', '9.0']);
    const c = r.do(r.store.compact(6));
    // a: 3 is the newest <= 6 (7 is newer); b: 5 is a tombstone, so b goes entirely; c: 6 and newer.
    expect(keptRevisions(r)).toEqual(['3.0', '6.0', '7.0', '8.0t', '9.0']);
    expect(c.events).toEqual([]);
    expect(c.ops.filter((op) => op.type === 'del')).toHaveLength(3);
    expect(r.store.stats().revisions).toBe(5);
    expect(r.store.currentRevision).toBe(9);
  });

  it('a key whose last revision <= rev is a tombstone disappears from the index', () => {
    const r = history();
    r.do(r.store.compact(9));
    expect(keptRevisions(r)).toEqual(['7.0', '9.0']);
    expect(r.store.stats()).toMatchObject({ keys: 2, revisions: 2 });
  });

  it('reads below the compact revision fail; reads at or above it are unchanged', () => {
    const r = history();
    const before = new Map<number, string[]>();
    for (let rev = 1; rev <= 9; rev++) before.set(rev, r.store.range(everything(rev)).kvs.map(kvLine));
    r.store.compact(5);
    for (let rev = 1; rev <= 9; rev++) {
      if (rev < 5) expect(errorCode(() => r.store.range(everything(rev)))).toBe('Compacted');
      else expect(r.store.range(everything(rev)).kvs.map(kvLine)).toEqual(before.get(rev));
    }
    expect(errorCode(() => r.store.range(everything(10)))).toBe('FutureRevision');
    expect(r.store.range(everything()).kvs.map(kvLine)).toEqual(before.get(9));
  });

  it('versions and create revisions survive compaction of older revisions', () => {
    const r = history();
    r.store.compact(8);
    r.do(r.store.put(putReq('a', 'a4')));
    expect(r.store.range(rangeReq('a')).kvs.map(kvLine)).toEqual(['a@2/10/v4=a4']);
  });

  it('compacting at the current revision when its last write was a delete keeps the revision', () => {
    const r = new Recorded();
    r.do(r.store.put(putReq('k', 'v')));
    r.do(r.store.deleteRange(delReq('k')));
    r.do(r.store.compact(3));
    expect(r.disk.records().filter(([key]) => key[1] === 0x6b)).toEqual([]);
    const reloaded = r.reload();
    expect([reloaded.currentRevision, reloaded.compactRevision]).toEqual([3, 3]);
    expect(r.do(reloaded.put(putReq('k', 'w'))).revision).toBe(4);
  });
});

describe('hashKV', () => {
  it('is the same for the same history and differs for a different one', () => {
    const x = history();
    const y = history();
    expect(x.store.hashKV(0)).toEqual(y.store.hashKV(0));
    x.store.put(putReq('z', '1'));
    y.store.put(putReq('z', '2'));
    expect(x.store.hashKV(0).hash).not.toBe(y.store.hashKV(0).hash);
    // Both still agree about the past.
    expect(x.store.hashKV(9)).toEqual(y.store.hashKV(9));
  });

  it('covers revisions up to the one asked for', () => {
    const r = history();
    const at7 = r.store.hashKV(7);
    expect(at7.hashRevision).toBe(7);
    r.store.put(putReq('more', '1'));
    expect(r.store.hashKV(7)).toEqual(at7);
    expect(r.store.hashKV(0).hashRevision).toBe(10);
    expect(r.store.hashKV(0).hash).not.toBe(r.store.hashKV(9).hash);
  });

  it('fails at or below the compact revision and above the current one', () => {
    const r = history();
    r.store.compact(5);
    expect(errorCode(() => r.store.hashKV(5))).toBe('Compacted');
    expect(errorCode(() => r.store.hashKV(10))).toBe('FutureRevision');
    expect(r.store.hashKV(6).compactRevision).toBe(5);
  });

  it('of an empty store is CRC-32C of "key"', () => {
    expect(new MvccStore().hashKV(0)).toEqual({ hash: 0x40a4756d, compactRevision: -1, hashRevision: 1 });
  });
});

describe('load and snapshots', () => {
  it('load(records) rebuilds the store the records came from, compacted or not', () => {
    const r = history();
    const check = (): void => {
      const loaded = r.reload();
      expect(loaded.exportSnapshot().equals(r.store.exportSnapshot())).toBe(true);
      expect([loaded.currentRevision, loaded.compactRevision]).toEqual([r.store.currentRevision, r.store.compactRevision]);
      expect(loaded.stats()).toEqual(r.store.stats());
      expect(loaded.hashKV(0)).toEqual(r.store.hashKV(0));
      for (let rev = Math.max(1, r.store.compactRevision); rev <= r.store.currentRevision; rev++) {
        expect(loaded.range(everything(rev))).toEqual(r.store.range(everything(rev)));
      }
    };
    check();
    r.do(r.store.compact(4));
    check();
    r.do(r.store.txn(txnReq([], [{ put: putReq('t', '1', { lease: '77' }) }, { deleteRange: delReq('a') }])));
    check();
    expect(r.reload().keysWithLease('77').length).toBe(1);
    r.do(r.store.compact(10));
    check();
  });

  it('compaction at 0 is allowed once, as in etcd (whose compact revision starts at -1)', () => {
    const r = history();
    r.do(r.store.compact(0));
    expect(r.store.compactRevision).toBe(0);
    expect(r.store.hashKV(0).compactRevision).toBe(0);
    expect(errorCode(() => r.store.compact(0))).toBe('Compacted');
    expect(r.reload().exportSnapshot().equals(r.store.exportSnapshot())).toBe(true);
    expect(errorCode(() => r.store.txn(txnReq([], [{ range: rangeReq('a', { revision: -1 }) }])))).toBe('Compacted');
  });

  it('load of nothing is a fresh store', () => {
    const store = MvccStore.load([]);
    expect([store.currentRevision, store.compactRevision]).toEqual([1, 0]);
  });

  it('load refuses records of a key out of revision order and malformed keys', () => {
    const r = history();
    const records = r.disk.records().reverse();
    expect(errorCode(() => MvccStore.load(records))).toBe('Corrupt');
    expect(errorCode(() => MvccStore.load([[Buffer.from('mx'), Buffer.alloc(0)]]))).toBe('Corrupt');
  });

  it('importSnapshot(exportSnapshot()) is the same store, and its ops persist it', () => {
    const r = history();
    r.do(r.store.compact(6));
    const { store, ops } = MvccStore.importSnapshot(r.store.exportSnapshot());
    expect(store.exportSnapshot().equals(r.store.exportSnapshot())).toBe(true);
    const disk = new SortedRecords();
    disk.apply(ops);
    expect(MvccStore.load(disk.records()).exportSnapshot().equals(r.store.exportSnapshot())).toBe(true);
    expect(disk.records()).toEqual(r.disk.records());
  });

  it('the single-buffer snapshot encoder writes what the generic one writes for the same records', () => {
    for (const compactAt of [0, 6]) {
      const r = history();
      if (compactAt > 0) r.do(r.store.compact(compactAt));
      const data = r.store.exportSnapshot();
      const decoded = decodeSnapshot(data);
      expect(decoded.records.length).toBe(r.disk.records().length);
      expect(encodeSnapshot(decoded.currentRevision, decoded.compactRevision, decoded.records).equals(data)).toBe(true);
    }
  });

  it('a damaged snapshot is Corrupt', () => {
    const data = history().store.exportSnapshot();
    const flipped = Buffer.from(data);
    flipped[20] = (flipped[20] as number) ^ 1;
    expect(errorCode(() => MvccStore.importSnapshot(flipped))).toBe('Corrupt');
    expect(errorCode(() => MvccStore.importSnapshot(data.subarray(0, 10)))).toBe('Corrupt');
  });
});
