// The state snapshot written in place (header and Snapshot RPC framing around the MVCC bytes, no
// copy of the whole) is byte for byte the one built from separate parts.
import { describe, expect, it } from 'vitest';

import { MvccStore } from '../../src/mvcc/mvcc-store.js';
import { decodeStateSnapshot, encodeStateSnapshot, encodeStateSnapshotAround } from '../../src/server/state-snapshot.js';
import { delReq, putReq } from '../mvcc/helpers.js';

function store(): MvccStore {
  const s = new MvccStore();
  for (let i = 0; i < 200; i++) s.put(putReq(`key-${i % 37}`, `value ${i} `.repeat(i % 9)));
  s.deleteRange(delReq('key-3'));
  s.compact(50);
  return s;
}

describe('state snapshot written in place', () => {
  it('exportSnapshot with spare bytes around it holds the same snapshot between them', () => {
    const s = store();
    const plain = s.exportSnapshot();
    const framed = s.exportSnapshot({ before: 13, after: 7 });
    expect(framed.length).toBe(plain.length + 20);
    expect(framed.subarray(13, framed.length - 7).equals(plain)).toBe(true);
  });

  it('encodeStateSnapshotAround gives encodeStateSnapshot bytes at [before, length - after)', () => {
    const s = store();
    const meta = {
      applied: 321,
      membership: { members: [{ id: 'a1', name: 'm1', peerURLs: ['http://127.0.0.1:1'], clientURLs: [], isLearner: false }], removed: [], alarms: [] },
      leases: [{ id: '7', ttl: 30 }],
    };
    const parts = encodeStateSnapshot({ ...meta, mvcc: s.exportSnapshot() });
    const inPlace = encodeStateSnapshotAround(meta, (before, after) => s.exportSnapshot({ before, after }), { before: 8, after: 511 });
    expect(inPlace.subarray(8, inPlace.length - 511).equals(parts)).toBe(true);
    const back = decodeStateSnapshot(inPlace.subarray(8, inPlace.length - 511));
    expect(back.applied).toBe(321);
    expect(MvccStore.importSnapshot(back.mvcc).store.exportSnapshot().equals(s.exportSnapshot())).toBe(true);
  });
});
