// Record encodings: every field round-trips, and any damage is reported as a RecordError rather
// than decoded into plausible-looking data.
import { describe, expect, it } from 'vitest';

import { EntryType } from '../../src/raft/types.js';
import {
  decodeApplied,
  decodeEntry,
  decodeHardState,
  decodeMeta,
  decodeSnapshotMetadata,
  encodeApplied,
  encodeEntry,
  encodeHardState,
  encodeMeta,
  encodeSnapshotMetadata,
  RecordError,
} from '../../src/storage/codec.js';
import { entryKey, entryKeyIndex, prefixEnd } from '../../src/storage/keys.js';

describe('storage codec', () => {
  it('round-trips entries, hard state, snapshot metadata, applied and meta', () => {
    const big = Number.MAX_SAFE_INTEGER;
    const e = { index: big, term: 2 ** 40 + 3, type: EntryType.ConfChange, data: new Uint8Array([0, 255, 7]) };
    const back = decodeEntry(encodeEntry(e));
    expect({ ...back, data: [...back.data] }).toEqual({ ...e, data: [0, 255, 7] });
    expect(decodeEntry(encodeEntry({ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array() })).data.length).toBe(0);
    expect(encodeEntry({ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(256) }).length).toBe(256 + 26);

    const hs = { term: 7, vote: 'ü-8e9e05c52164694d', commit: big };
    expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
    const meta = { index: 10, term: 3, confState: { voters: ['a', 'bb', ''], learners: ['z'] } };
    expect(decodeSnapshotMetadata(encodeSnapshotMetadata(meta))).toEqual(meta);
    expect(decodeSnapshotMetadata(encodeSnapshotMetadata({ ...meta, confState: { voters: [], learners: [] } }))).toEqual({
      ...meta,
      confState: { voters: [], learners: [] },
    });
    expect(decodeApplied(encodeApplied(12345))).toBe(12345);
    expect(decodeMeta(encodeMeta(Buffer.from('cluster')))).toEqual(Buffer.from('cluster'));
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeApplied(-1)).toThrow(RangeError);
    expect(() => encodeApplied(2 ** 53)).toThrow(RangeError);
    expect(() => encodeHardState({ term: 1, vote: 'x'.repeat(70_000), commit: 1 })).toThrow(/too long/);
  });

  it('detects truncation, bit flips, trailing bytes and unknown versions', () => {
    const rec = encodeEntry({ index: 5, term: 2, type: EntryType.Normal, data: Buffer.from('hello') });
    for (let n = 0; n < rec.length; n++) expect(() => decodeEntry(rec.subarray(0, n)), `prefix ${n}`).toThrow(RecordError);
    for (let i = 0; i < rec.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(rec);
        bad[i] = (bad[i] as number) ^ (1 << bit);
        expect(() => decodeEntry(bad), `byte ${i} bit ${bit}`).toThrow(RecordError);
      }
    }
    // A valid CRC over a record of another shape still fails to decode.
    const applied = encodeApplied(1);
    expect(() => decodeHardState(applied)).toThrow(RecordError);
    expect(() => decodeApplied(encodeMeta(Buffer.alloc(12)))).toThrow(/trailing bytes/);
    expect(() => decodeEntry(encodeMeta(Buffer.from([9])))).toThrow(/unknown entry type 9/);
  });

  it('entry keys sort in index order and parse back', () => {
    const idx = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    const keys = idx.map(entryKey);
    expect([...keys].sort(Buffer.compare)).toEqual(keys);
    expect(keys.map(entryKeyIndex)).toEqual(idx);
    expect(entryKeyIndex(Buffer.concat([entryKey(1), Buffer.from([0])]))).toBeUndefined();
    expect(prefixEnd(Buffer.from('r/e/'))).toEqual(Buffer.from('r/e0'));
    expect(prefixEnd(Buffer.from([0x6d, 0xff, 0xff]))).toEqual(Buffer.from([0x6e]));
    expect(prefixEnd(Buffer.from([0xff]))).toBeUndefined();
  });
});
