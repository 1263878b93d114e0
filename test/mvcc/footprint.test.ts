// Memory per key stays small: 100k keys with 256-byte values must fit well under 100 MB of heap,
// before and after their history is compacted. (Timings are for benchmarks, not tests.)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { putReq, rangeReq } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('footprint', () => {
  it('100k keys with 256-byte values take well under 100 MB', () => {
    const keys = 100_000;
    const value = 'v'.repeat(256);
    const before = heapBytes();
    let store: MvccStore | undefined = new MvccStore();
    for (let i = 0; i < keys; i++) store.put(putReq(`/registry/pods/default/pod-${String(i).padStart(6, '0')}`, value));
    const created = heapBytes() - before;
    // Two more versions of every key, then compaction down to one revision each.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < keys; i++) store.put(putReq(`/registry/pods/default/pod-${String(i).padStart(6, '0')}`, value));
    }
    store.compact(store.currentRevision);
    const compacted = heapBytes() - before;
    expect(store.stats()).toMatchObject({ keys, revisions: keys });
    expect(store.range(rangeReq('/registry/pods/default/pod-000042')).kvs[0]?.version).toBe(3);
    expect(created).toBeLessThan(80 * 1024 * 1024);
    expect(compacted).toBeLessThan(80 * 1024 * 1024);
    store = undefined;
  }, 120_000);
});
